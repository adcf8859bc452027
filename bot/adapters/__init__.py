"""Platform adapters: platform events in, ``Request``s to the dispatcher, ``Reply``s out.

``console`` (the terminal chat), ``discord/`` and ``reddit/``. Adapters hold no business
logic; platform limits and every platform call's recorded outcome live here.
"""

"""The llama.cpp runtime: spren's decoding loop on llama.cpp (GGUF weights) instead of torch.

- ``lib``: the C API through ctypes, from the pinned xllamacpp wheel
- ``runtime``: ``LlamaGenerator``, the loop of ``engine.generation.batching`` on a GGUF model
- ``batch``: the llama.cpp context, its sequence pool and the batch of rows decoded together
- ``sampling``: the next token from llama.cpp's logits, in numpy (the torch sampler's rule)
- ``gguf``: a Hugging Face Llama folder to GGUF (``export_gguf``); ``convert``: the
  ``spren model gguf`` command; ``metadata``: reading a GGUF's keys, is it current
- ``scoring``: ``LlamaScorer``, held-out bits per character (``spren eval --runtime llama``)
- ``native``: llama.cpp compiled for this CPU (``spren model build-llama``); ``native_check``:
  a library checked in a child process before it is used

Decoding never imports torch; ``convert`` (merging an adapter) and ``scoring`` (the evaluator's
windows) reach torch code when they run.
"""

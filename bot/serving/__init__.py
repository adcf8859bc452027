"""The generation service: who goes next, how long the wait is, and the worker thread.

``service`` (``GenerationService``: the event loop's door to the engine), ``fair_queue``
(round-robin across users, fair batch shares), ``estimates`` (throughput meter, ETAs, the
``/queue`` snapshot), ``worker`` (jobs and the engine worker thread), ``engine`` (the
``GenerationEngine`` protocol every backend implements).
"""

from bot.serving.engine import GenerationEngine
from bot.serving.estimates import QueueSnapshot
from bot.serving.service import GenerationService

__all__ = ["GenerationEngine", "GenerationService", "QueueSnapshot"]

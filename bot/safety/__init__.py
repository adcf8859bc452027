"""Community safety, platform-neutral: spoilers by reading progress, the output filter,
moderator controls, forget-me and data retention.

``service`` (``Safety``: what the dispatcher calls), ``progress`` (reading progress, spoiler
policies, what a reader may see), ``spoilers`` (spoiler spans in reply text; adapters render
them), ``wordfilter`` (obfuscation-tolerant whole-word matching, linear time),
``filtering`` (the configured list and the filter's log), ``moderation`` (place settings,
blocks, audit log), ``privacy`` (forget-me, retention), ``commands`` (the /progress answer
and typed-command parsing).
"""

from bot.safety.progress import EVERYTHING, Visibility
from bot.safety.service import Safety

__all__ = ["EVERYTHING", "Safety", "Visibility"]

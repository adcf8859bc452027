"""Who may press which button on a passage: a pure decision over the configured policy.

Policies (``[stories] regenerate_by / continue_by / stop_by``): ``requester`` (the person who
asked for the passage, and members who may manage messages), ``moderators`` (only those),
``everyone``.
"""

from __future__ import annotations

VERBS = {"regenerate": "regenerate", "continue": "continue", "stop": "stop"}


def refusal(action: str, policy: str, *, is_requester: bool, is_moderator: bool) -> str | None:
    """Why this user may not do ``action`` to a passage, or None when they may."""
    verb = VERBS[action]
    if policy == "everyone" or is_moderator:
        return None
    if policy == "requester":
        if is_requester:
            return None
        return (f"Only the person who asked for this passage (or a member who can manage "
                f"messages) can {verb} it. You can ask for your own with the passage command.")
    return f"Only members who can manage messages can {verb} passages here."

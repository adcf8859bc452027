"""How a passage ends, whichever engine generated it: the sentence stop, the final text, and
the verbatim guard's verdict (regenerate with a derived seed, then cut).

The local ``Generator`` and the remote backend both call these, so a passage is stopped,
trimmed and guarded the same way on either backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import GenerationError
from engine.generation.guard import VerbatimGuard
from engine.generation.params import SEED_LIMIT, GenParams, GenResult
from engine.generation.tidy import ends_sentence, trim_to_sentence

RETRY_SEED_STEP = 1_000_003  # a prime, so retry seeds never collide with the next user seed
MAX_GUARD_RETRIES = 3
STOP_AFTER_FRACTION = 0.6  # stop_at_sentence only kicks in past this share of max_new_tokens
GUARD_ACTIONS = ("regenerate", "cut")


def attempt_seed(seed: int, attempt: int) -> int:
    """The sampling seed of a passage's ``attempt``-th regeneration (0: the user's seed)."""
    return (seed + RETRY_SEED_STEP * attempt) % (SEED_LIMIT + 1)


def sentence_stop(params: GenParams, new_tokens: int, text: str) -> bool:
    """Whether a passage with ``new_tokens`` tokens so far should stop at this sentence end."""
    return (params.stop_at_sentence and new_tokens >= STOP_AFTER_FRACTION * params.max_new_tokens
            and ends_sentence(text))


def final_text(text: str, params: GenParams, finish: str) -> str:
    """The tidied text of a finished passage: cut after its last full sentence when
    ``stop_at_sentence`` (a cancelled passage keeps what it had)."""
    if params.stop_at_sentence and finish != "cancelled":
        return trim_to_sentence(text)
    return text


@dataclass(frozen=True)
class Finisher:
    """The verbatim guard's policy: how many copied words are too many, and what to do."""

    guard: VerbatimGuard | None = None
    guard_words: int = 12
    guard_action: str = "regenerate"
    max_retries: int = MAX_GUARD_RETRIES

    def __post_init__(self) -> None:
        if self.guard_action not in GUARD_ACTIONS:
            raise GenerationError(
                f"guard_action={self.guard_action!r}: use 'regenerate' or 'cut'.")
        min_words = getattr(self.guard, "k", 1)  # the guard cannot see runs shorter than k
        if not _is_whole(self.guard_words) or self.guard_words < min_words:
            raise GenerationError(
                f"guard_words={self.guard_words!r}: use a whole number >= {min_words}.")
        if not _is_whole(self.max_retries) or self.max_retries < 0:
            raise GenerationError(f"max_retries={self.max_retries!r}: use a whole number >= 0.")

    def copies(self, text: str) -> bool:
        """Whether ``text`` holds a run of ``guard_words`` or more words from the books."""
        return self.guard is not None and self.guard.longest_copy(text)[0] >= self.guard_words

    def regenerate(self, text: str, finish: str, attempt: int) -> bool:
        """Whether a finished passage (final text ``text``) must be generated again."""
        return (finish != "cancelled" and self.guard_action == "regenerate"
                and attempt < self.max_retries and self.copies(text))

    def result(self, prompt: str, text: str, params: GenParams, *, seed: int, new_tokens: int,
               finish: str, attempt: int, model_id: str, seconds: float,
               server: str = "") -> GenResult:
        """The ``GenResult`` of a finished passage whose final text is ``text``: cut before a
        copied run if one is left (then trimmed to a sentence again)."""
        verdict = None
        if self.copies(text):
            verdict = "cut"
            assert self.guard is not None  # copies() is False without a guard
            text = self.guard.cut(text, self.guard_words).rstrip()
            if params.stop_at_sentence:
                text = trim_to_sentence(text)
        elif attempt:
            verdict = "regenerated"
        return GenResult(prompt=prompt, text=text, seed=seed, new_tokens=new_tokens,
                         finish_reason=finish, model_id=model_id, guard=verdict,
                         seconds=round(seconds, 3), server=server)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

"""A row's text while its tokens arrive, without decoding all of them again at every step."""

from __future__ import annotations

from collections.abc import Callable


class RowText:
    """The decoded text of a growing list of tokens.

    Where a tokenizer decodes by joining its tokens' bytes and reading them as UTF-8 (byte-
    level BPE: GPT-2, SmolLM, Llama 3, Qwen), the text up to the last complete character is
    kept and only the tokens after it are decoded at each step: UTF-8 starts afresh after a
    complete character, so the text is the same as decoding every token. Tokens that end
    inside a character (their text ends in U+FFFD) wait until it completes. Other decoders
    (which strip a leading space, or tidy spaces between tokens) decode every token each time.
    """

    __slots__ = ("done", "upto")

    def __init__(self) -> None:
        self.done = ""  # the text of the first ``upto`` tokens
        self.upto = 0

    def text(self, decode: Callable[[list[int]], str], tokens: list[int],
             byte_level: bool) -> str:
        """The text of ``tokens`` (this row's, grown since the last call) by ``decode``."""
        if not byte_level:
            return decode(tokens)
        tail = decode(tokens[self.upto:])
        if tail.endswith("\ufffd") or not tail:
            return self.done + tail
        self.done += tail
        self.upto = len(tokens)
        return self.done

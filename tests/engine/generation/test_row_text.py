"""A row's text grown a token at a time (RowText) is the text of all its tokens decoded at
once, at every step: on the demo model's byte-level tokenizer with characters split across
tokens and random (often invalid) byte sequences; and a decoder that is not a plain byte join
is decoded whole each time."""

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models

from engine.generation.row_text import RowText

MIXED = ("Dorothy said, \u201cOh, Toto!\u201d \u2014 caf\u00e9 na\u00efve \u2603 \U0001f409 "
         "\u00bfQu\u00e9? \u4e2d\u6587 \u0928\u092e\u0938\u094d\u0924\u0947\n\nThe end.")


def _grow(tokenizer: Tokenizer, ids: list[int], byte_level: bool) -> None:
    def decode(tokens: list[int]) -> str:
        return tokenizer.decode(tokens, skip_special_tokens=True)

    row, tokens = RowText(), []
    for token in ids:
        tokens.append(token)
        assert row.text(decode, tokens, byte_level) == decode(tokens), tokens


def test_a_byte_level_row_grows_to_the_same_text_as_a_whole_decode(llama_model_dir):
    tokenizer = Tokenizer.from_file(str(llama_model_dir / "tokenizer.json"))
    assert isinstance(tokenizer.decoder, decoders.ByteLevel)
    ids = tokenizer.encode(MIXED).ids
    # the mixed text holds characters whose bytes are split across tokens
    assert any(tokenizer.decode(ids[:i]).endswith("\ufffd") for i in range(1, len(ids)))
    _grow(tokenizer, ids, byte_level=True)
    rng = np.random.default_rng(0)
    vocab = tokenizer.get_vocab_size()
    for _ in range(40):  # random tokens: broken and completed characters, special tokens
        _grow(tokenizer, rng.integers(0, vocab, 60).tolist(), byte_level=True)


def test_a_decoder_that_is_no_byte_join_decodes_every_token_each_time():
    vocab = {"\u2581Hello": 0, "\u2581world": 1, "<0xE2>": 2, "<0x98>": 3, "<0x83>": 4, "!": 5}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="!"))
    tokenizer.decoder = decoders.Sequence([
        decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
        decoders.Strip(" ", 1, 0)])
    ids = [0, 1, 2, 3, 4, 1, 5]
    # joining pieces decoded apart would keep spaces this decoder strips from the start
    assert tokenizer.decode(ids[:1]) + tokenizer.decode(ids[1:]) != tokenizer.decode(ids)
    _grow(tokenizer, ids, byte_level=False)


@pytest.mark.parametrize("byte_level", [True, False])
def test_the_runtime_says_whether_its_tokenizer_joins_bytes(llama_gen, byte_level):
    assert llama_gen.byte_level  # the demo model's tokenizer is byte-level BPE
    row, tokens = RowText(), llama_gen._tokenize(" Toto barked \u2603")
    assert row.text(llama_gen._detokenize, tokens, byte_level) == \
        llama_gen._detokenize(tokens)

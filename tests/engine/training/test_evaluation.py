"""Bits per character: finite, consistent with the model's own loss, window-independent."""

import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from engine.training.evaluation import Score, _windows, bits_per_char, score_text
from engine.training.tokenizer import train_bpe

TEXT = ("Once upon a time a small girl and her dog were carried by a storm to a far land. "
        "There she met a scarecrow, a tin woodman and a lion, and they set out together. ") * 6


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tok = train_bpe([TEXT], vocab_size=300)
    torch.manual_seed(0)
    conf = GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=32, n_layer=2, n_head=2,
                      bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    model = GPT2LMHeadModel(conf).eval()
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model, tok, path


@pytest.mark.parametrize("n,block,stride", [(2, 4, 2), (10, 4, 2), (11, 4, 4), (50, 16, 5)])
def test_windows_score_each_token_once(n, block, stride):
    windows = _windows(n, block, stride)
    assert sum(new for _, _, new in windows) == n - 1
    assert all(end - begin - 1 <= block and new <= end - begin - 1 for begin, end, new in windows)


def test_bpc_matches_the_model_loss(tiny):
    model, tok, _ = tiny
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    assert len(ids) < 1023
    x = torch.tensor([[tok.eos_token_id] + ids])
    with torch.no_grad():
        loss = float(model(input_ids=x, labels=x).loss)  # mean NLL over len(ids) predictions
    s = score_text(model, tok, TEXT, block=1024)
    assert math.isfinite(s.bpc) and s.tokens == len(ids)
    assert s.nll == pytest.approx(loss * len(ids), rel=1e-4)
    assert s.bpc == pytest.approx(loss * len(ids) / math.log(2) / len(TEXT), rel=1e-4)
    assert s.word_perplexity == pytest.approx(math.exp(s.nll / len(TEXT.split())), rel=1e-6)


def test_sliding_window_from_disk(tiny):
    model, tok, path = tiny
    s = bits_per_char(path, TEXT, max_chars=300, block=32, stride=16)
    assert s.chars == 300 and 0 < s.bpc < 20
    # a wider window (more context) cannot change the token count
    assert score_text(model, tok, TEXT[:300], block=64).tokens == s.tokens


def test_score_properties():
    s = Score(nll=math.log(2) * 100, chars=100, words=20, tokens=30)
    assert s.bpc == pytest.approx(1.0)
    assert s.word_perplexity == pytest.approx(math.exp(math.log(2) * 5))

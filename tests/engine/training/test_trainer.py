"""Training from scratch: packing, best checkpoint, exact resume after an interruption."""

import json
import random

import pytest
import torch

from engine.errors import CorpusError, ModelError
from engine.training.checkpoint import STATE_FILE
from engine.training.data import pack_blocks, split_holdout, strip_gutenberg
from engine.training.trainer import TrainConfig, train

WORDS = ("the girl walked down a yellow road toward green city where wizard lived with "
         "lion and tin man who wanted heart brain courage home far away over hills").split()


def synthetic_texts(n_docs: int, n_words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(n_words)) + "." for _ in range(n_docs)]


def tiny_config(out, **kw) -> TrainConfig:
    base = dict(out_dir=str(out), preset="tiny", vocab_size=300, block_size=32, batch_size=4,
                lr=3e-3, warmup_steps=2, max_steps=6, eval_every=3, checkpoint_every=3,
                eval_block=64, sample_tokens=8, progress=False, device="cpu", seed=7)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def texts():
    return synthetic_texts(6, 150, seed=1), synthetic_texts(1, 120, seed=2)


def final_weights(out):
    return torch.load(out / "checkpoint" / STATE_FILE, weights_only=False)["model"]


def test_train_from_scratch_keeps_best_and_logs(tmp_path, texts):
    result = train(*texts, tiny_config(tmp_path))
    assert result.finished and result.steps == 6 and result.tokens == 6 * 4 * 32
    assert [h["step"] for h in result.history] == [3, 6]
    assert result.best_bpc == pytest.approx(min(h["val_bpc"] for h in result.history), abs=1e-4)
    assert (tmp_path / "config.json").is_file() and (tmp_path / "tokenizer.json").is_file()
    meta = json.loads((tmp_path / "train_meta.json").read_text())
    assert meta["best_step"] == result.best_step
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert all(isinstance(h["sample"], str) for h in log) and len(log) == 2


def test_resume_continues_exactly(tmp_path, texts):
    straight = train(*texts, tiny_config(tmp_path / "a"))
    paused = train(*texts, tiny_config(tmp_path / "b", stop_after=3))
    assert not paused.finished and paused.steps == 3
    resumed = train(*texts, tiny_config(tmp_path / "b", resume=True))
    assert resumed.finished and resumed.steps == 6
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert [h["val_bpc"] for h in resumed.history] == [h["val_bpc"] for h in straight.history]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, texts):
    with pytest.raises(ModelError, match="no checkpoint"):
        train(*texts, tiny_config(tmp_path, resume=True))


def test_packing_cuts_blocks_without_padding():
    blocks = pack_blocks(list(range(10)), 4)
    assert blocks.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(CorpusError, match="fewer than one block"):
        pack_blocks([1, 2], 4)


def test_gutenberg_strip_and_holdout():
    raw = ("header\r\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\r\nBody one.\r\n\r\n"
           "Body two.\r\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\r\nlicense")
    assert strip_gutenberg(raw) == "Body one.\n\nBody two.\n"
    train_part, val_part = split_holdout(["a " * 50 + "\n\n" + "b " * 10], 0.1)
    assert train_part[0].strip().endswith("a") and val_part[0].startswith("b")
    with pytest.raises(CorpusError):
        split_holdout(["x"], 1.5)

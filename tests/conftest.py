"""Shared pytest fixtures: offline settings and a tiny, quickly built causal LM."""

import os

# Set before anything imports transformers / matplotlib, so no test can reach the network
# or open a display.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["MPLBACKEND"] = "Agg"
# One torch thread: on the 2 shared cores, two spinning OpenMP threads per test process made
# small-model work 10-30x slower (measured: 30 training steps 1.5 s vs 46 s under load).
# Set before torch is imported, since torch reads it once; export it to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest

from tests.paths import OZ_DIR, REPO_ROOT

TINY_BOOK = "01-the-wonderful-wizard-of-oz.txt"
EOS = "<|endoftext|>"


def _book_sample(n_chars: int = 200_000) -> str:
    """About n_chars of one Oz book, past the Gutenberg header, with LF line ends."""
    path = OZ_DIR / TINY_BOOK
    if not path.exists():
        pytest.skip(f"Oz corpus not found at {path.resolve()}")
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    start = text.find("*** START")
    start = text.find("\n", start) + 1 if start >= 0 else 0
    return text[start : start + n_chars]


def _train_tokenizer(text: str, vocab_size: int = 1000):
    """A byte-level BPE tokenizer trained on text, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(text.split("\n\n"), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=EOS
    )


def _fit_briefly(model, ids, steps: int = 30) -> None:
    """A few optimiser steps so the model emits word-like tokens and full stops (~1.5 s)."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - 65, (16,), generator=gen).tolist()
        x = torch.stack([ids[s : s + 64] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny GPT-2 (2 layers, 64 wide, 256 positions, ~1000-token BPE) saved HF-style."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    text = _book_sample()
    tokenizer = _train_tokenizer(text)
    cfg = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GPT2LMHeadModel(cfg)
        _fit_briefly(model, torch.tensor(tokenizer(text).input_ids))
    out = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def served_tiny(tiny_model_dir, tmp_path_factory):
    """`transformers serve` on the tiny model, shared by the whole session (slow to start)."""
    from tests.inference_server import InferenceServer

    server = InferenceServer(tiny_model_dir, tmp_path_factory.mktemp("serve")).start()
    try:
        yield server.wait_ready()
    finally:
        server.kill()


# ---- PostgreSQL: one real server per test session (tests/postgres.py) ----------------------
@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server on 127.0.0.1 for this session; skipped (failed under CI) if absent."""
    from tests.postgres import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        message = ("PostgreSQL server binaries not found: install Debian's `postgresql` "
                   "package (`.ci/run` does) or set SPREN_PG_BINDIR")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """The SQLAlchemy URL of a new, empty PostgreSQL database."""
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An empty database of each kind spren supports: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'spren.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def llama_model_dir() -> Path:
    """The demo model folder with its model.gguf (`make test` builds both first)."""
    home = Path(os.environ.get("SPREN_HOME", REPO_ROOT / ".spren"))
    folder = Path(os.environ.get("SPREN_TEST_LLAMA_DIR", home / "models" / "oz-demo"))
    if not (folder / "model.gguf").is_file():
        pytest.skip(f"no {folder / 'model.gguf'}: run `make demo-model` (make test does)")
    return folder


@pytest.fixture(scope="session")
def llama_gen(llama_model_dir):
    """The llama.cpp runtime on the demo model, shared by the session (loads in ~0.3 s)."""
    from engine.generation.llama.runtime import LlamaGenerator

    gen = LlamaGenerator(llama_model_dir, threads=1)  # 2 threads crawl on a busy 2-core box
    yield gen
    gen.close()

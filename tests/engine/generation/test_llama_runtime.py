"""The llama.cpp runtime's own parts: its numpy sampler against the torch one, the sequence
pool (held rows whose sequences are taken back), short contexts, refusals, and no torch."""

import subprocess
import sys

import numpy as np
import pytest

from engine.errors import ModelError
from engine.generation.params import GenParams
from tests.paths import REPO_ROOT

A, B, C = "Dorothy looked at the Scarecrow and", "The Lion roared", "Toto ran to the"
LONG = GenParams(max_new_tokens=30, seed=3, stop_at_sentence=False)


@pytest.mark.parametrize("top_k, top_p, temperature", [
    (50, 0.95, 0.8), (0, 0.9, 1.2), (0, 1.0, 1.0), (1, 0.5, 0.7), (7, 0.3, 2.0),
    (0, 1e-6, 1.0), (0, 0.999, 3.0)])
@pytest.mark.parametrize("vocab", [5000, 49152])
def test_numpy_sampler_picks_what_the_torch_sampler_picks(top_k, top_p, temperature, vocab):
    """Both runtimes apply the same rule: on the same logits, options and uniform number,
    they choose the same token (including the no-top-k path that widens its candidates)."""
    import torch

    from engine.generation import sampling as torch_sampling
    from engine.generation.llama import sampling as np_sampling

    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((6, vocab)) * 3).astype(np.float32)
    seen = rng.random((6, vocab)) < 0.01
    uniforms = rng.random(6).tolist()
    penalty = np.full(6, 1.3, dtype=np.float32)
    seen_ids = [set(np.nonzero(row)[0].tolist()) for row in seen]
    mine = np_sampling.sample_next(np_sampling.penalise_repeats(logits, seen_ids, penalty),
                                   [temperature] * 6, [top_k] * 6, [top_p] * 6, uniforms)
    t_logits = torch_sampling.penalise_repeats(torch.from_numpy(logits),
                                               torch.from_numpy(seen),
                                               torch.from_numpy(penalty)[:, None])
    theirs = torch_sampling.sample_next(
        t_logits, torch.full((6,), temperature), torch.full((6,), top_k),
        torch.full((6,), top_p), torch.tensor(uniforms)).tolist()
    assert mine == theirs



@pytest.mark.parametrize("vocab", [49152, 50257, 700])
def test_the_top_k_shortcut_finds_the_same_logits_as_a_full_sort(vocab):
    """The top k are found among candidates (logits at least the k-th highest group maximum)
    on a large vocabulary: the same ids as a full sort by logit and then id, with ties,
    banned (-inf) tokens and every k the runtime uses; a NaN row takes the full path."""
    from engine.generation.llama import sampling as np_sampling

    rng = np.random.default_rng(vocab)
    for trial in range(60):
        row = (rng.standard_normal(vocab) * rng.uniform(0.1, 5)).astype(np.float32)
        if trial % 3 == 0:
            row[rng.integers(0, vocab, vocab // 2)] = -np.inf
        if trial % 4 == 0:
            row = np.round(row, 1)  # many equal logits
        for k in (1, 5, 50, 100, 1024):
            if k >= vocab:
                continue
            got = np_sampling._sorted_top(row, k)
            # the k highest, high to low, equal logits by id (as spren's C sampler orders)
            assert np.array_equal(got, np.lexsort((np.arange(vocab), -row))[:k])
    row = rng.standard_normal(vocab).astype(np.float32)
    row[3] = np.nan
    assert np_sampling._candidates(row, 5) is None

def test_held_rows_whose_sequences_are_taken_back_still_finish(llama_model_dir):
    """Two sequences for three rows: while two rows sit out, a third needs a sequence, so
    the oldest held row gives its one back and is prefilled again when it returns."""
    from engine.generation.llama.runtime import LlamaGenerator

    gen = LlamaGenerator(llama_model_dir, sequences=2, threads=1)
    try:
        calls = []

        def hold(keys):
            calls.append(list(keys))
            return {0} if len(calls) <= 10 else set()

        admitted = []

        def admit(free):
            if len(calls) < 3 or admitted:
                return []
            admitted.append(1)
            return [("late", C, LONG)]

        results = gen.generate([A, B], [LONG, LONG], hold=hold, admit=admit, max_rows=2)
        assert [r.new_tokens for r in results] == [30, 30, 30]
        assert all(r.finish_reason == "length" for r in results)
        assert gen.context.free_ids == [0, 1] or sorted(gen.context.free_ids) == [0, 1]
        lone = gen.generate([B], [LONG])[0]
        assert results[1].text == lone.text  # a row that kept its sequence is unchanged
    finally:
        gen.close()


def test_a_short_context_slides_the_window_instead_of_failing(llama_model_dir):
    from engine.generation.llama.runtime import LlamaGenerator

    gen = LlamaGenerator(llama_model_dir, context_tokens=32, sequences=2, threads=1)
    try:
        # llama.cpp rounds a sequence's cells up to 256: the window is cut to what it has.
        assert gen.max_positions == gen.context.per_row == 256
        prompt = " ".join(["The Scarecrow walked along the yellow brick road."] * 40)
        params = [GenParams(max_new_tokens=60, seed=s, stop_at_sentence=False,
                            memory_window=512) for s in (1, 2)]
        batch = gen.generate([prompt, A], params)
        assert [r.new_tokens for r in batch] == [60, 60]
        assert batch[1].text == gen.generate([A], [params[1]])[0].text
    finally:
        gen.close()


def test_refusals_are_one_line_model_errors(tmp_path, llama_model_dir):
    from engine.generation.llama.runtime import LlamaGenerator

    with pytest.raises(ModelError, match="spren model gguf") as missing:
        LlamaGenerator(tmp_path)
    assert "\n" not in str(missing.value)
    with pytest.raises(ModelError, match="sequences"):
        LlamaGenerator(llama_model_dir, sequences=0)
    (tmp_path / "model.gguf").write_bytes(b"GGUF not really")
    (tmp_path / "tokenizer.json").write_text((llama_model_dir / "tokenizer.json").read_text())
    with pytest.raises(ModelError, match="could not load"):
        LlamaGenerator(tmp_path)


def test_the_llama_runtime_never_imports_torch(llama_model_dir):
    code = (
        "import sys\n"
        "from engine.generation.llama.runtime import LlamaGenerator\n"
        "from engine.generation.params import GenParams\n"
        f"g = LlamaGenerator({str(llama_model_dir)!r}, threads=1)\n"
        "r = g.generate(['Dorothy'], [GenParams(max_new_tokens=5, seed=1)])[0]\n"
        "print(r.new_tokens, 'torch' in sys.modules, 'transformers' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["5", "False", "False"]


def test_decoding_rows_keep_the_lowest_sequence_ids_and_held_rows_the_highest(llama_model_dir):
    """A step attends over every KV stream between its lowest and highest sequence id, so
    holding or finishing rows must not leave the decoding rows spread out."""
    from engine.generation.llama.batch import Context, LlamaBatch

    context = Context(llama_model_dir / "model.gguf", threads=1, sequences=6, per_row=256)
    try:
        batch = LlamaBatch(context)
        batch.prefill([[1, 2, 3], [4, 5], [6, 7, 8, 9]])
        assert batch.seqs == [0, 1, 2]
        held = batch.split([0])  # the first row sits out
        assert held.seqs == [5] and sorted(batch.seqs) == [0, 1]
        assert held.lengths == [3] and batch.lengths == [2, 4]
        batch.keep([1])  # a row finished: the other moves down
        assert batch.seqs == [0]
        held.resumed()
        batch.merge(held)
        assert sorted(batch.seqs) == [0, 1] and batch.lengths == [4, 3]
        logits = batch.step([10, 11])  # the moved caches decode as if they never moved
        reference = LlamaBatch(context)
        reference.prefill([[6, 7, 8, 9]])
        assert (reference.step([10])[0] == logits[0]).all()
    finally:
        context.close()

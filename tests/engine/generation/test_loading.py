"""Loading models: dtypes, threads, devices, model ids and unusable directories."""

import shutil

import pytest
import torch

from engine.errors import GenerationError, ModelError
from engine.generation.generator import Generator, GenParams

PARAMS = GenParams(seed=7, max_new_tokens=25, stop_at_sentence=False)


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_other_dtypes_generate_reproducibly(tiny_model_dir, dtype):
    gen = Generator(tiny_model_dir, dtype=dtype)
    a, b = (gen.generate(["The Lion"], [PARAMS])[0] for _ in range(2))
    assert a.new_tokens > 0 and a.text == b.text


def test_int8_is_the_cpu_default_and_stays_close_to_float32(tiny_model_dir):
    fp32 = Generator(tiny_model_dir, dtype="float32")
    int8 = Generator(tiny_model_dir)
    assert not any(isinstance(m, torch.nn.Linear) for m in int8.model.modules())
    ids = fp32.tokenizer("Dorothy and Toto went", return_tensors="pt").input_ids
    with torch.inference_mode():
        exact, approx = fp32.model(ids).logits, int8.model(ids).logits
    assert (exact - approx).abs().max() < 0.1 * exact.abs().max()


def test_threads_option_sets_torch_threads(tiny_model_dir):
    before = torch.get_num_threads()
    try:
        Generator(tiny_model_dir, dtype="float32", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_model_id_is_stable_and_follows_the_weights(tiny_model_dir, tmp_path):
    first = Generator(tiny_model_dir, dtype="float32").model_id
    assert first == Generator(tiny_model_dir, dtype="float32").model_id
    copy = tmp_path / tiny_model_dir.name
    shutil.copytree(tiny_model_dir, copy)
    assert Generator(copy, dtype="float32").model_id == first  # same name, same weights
    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    assert Generator(other, dtype="float32").model_id.startswith("other-")


def test_missing_directory_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        Generator(tmp_path / "nowhere")


def test_incomplete_directory_names_what_is_missing(tiny_model_dir, tmp_path):
    shutil.copy(tiny_model_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelError, match="missing weights.*tokenizer"):
        Generator(tmp_path)


def test_corrupt_weights_are_a_model_error(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="could not load"):
        Generator(broken)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dtype": "float16"}, ModelError, "dtype"),
        ({"device": "tpu"}, ModelError, "device"),
        ({"guard_action": "ignore"}, GenerationError, "guard_action"),
        ({"guard_words": 0}, GenerationError, "guard_words"),
        ({"threads": 0}, GenerationError, "threads"),
    ],
)
def test_bad_options_are_refused(tiny_model_dir, kwargs, error, match):
    with pytest.raises(error, match=match):
        Generator(tiny_model_dir, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_says_so(tiny_model_dir):
    with pytest.raises(ModelError, match="no CUDA GPU"):
        Generator(tiny_model_dir, device="cuda")


def test_int8_stores_a_tied_embedding_table_once(tiny_model_dir):
    from engine.generation.int8 import Int8Embedding, Int8Linear

    fp32 = Generator(tiny_model_dir, dtype="float32").model
    model = Generator(tiny_model_dir).model
    table, head = model.get_input_embeddings(), model.get_output_embeddings()
    assert isinstance(table, Int8Embedding) and isinstance(head, Int8Linear)
    assert table.weight_int8.data_ptr() == head.weight_int8.data_ptr()  # one copy, shared
    ids = torch.tensor([[0, 5, 17, 3]])
    exact = fp32.get_input_embeddings()(ids)
    assert (table(ids) - exact).abs().max() <= exact.abs().max() / 100
    # no float copy of the table is left in the model
    shape = fp32.get_input_embeddings().weight.shape
    assert not [t for t in list(model.parameters()) + list(model.buffers())
                if t.is_floating_point() and t.shape == shape]


def test_int8_quantizes_an_untied_embedding_table_on_its_own():
    from transformers import LlamaConfig, LlamaForCausalLM

    from engine.generation.int8 import Int8Embedding, quantize_int8

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=2, tie_word_embeddings=False))
    ids = torch.tensor([[1, 2, 3, 60]])
    with torch.inference_mode():
        exact = model(ids).logits
    quantize_int8(model)
    table = model.get_input_embeddings()
    assert isinstance(table, Int8Embedding)
    assert table.weight_int8.data_ptr() != model.get_output_embeddings().weight_int8.data_ptr()
    with torch.inference_mode():
        approx = model(ids).logits
    assert (exact - approx).abs().max() < 0.1 * exact.abs().max()

"""GGUF export (engine.generation.llama.gguf) and llama.cpp scoring against torch fp32.

The round trip uses the real demo model (`make test` builds it, with its model.gguf, before
pytest runs); the refusals use tiny fake folders and need no model.
"""

import json
import os
from pathlib import Path

import pytest

from engine.errors import ModelError
from engine.generation.llama.gguf import export_gguf, gguf_is_current, read_key
from engine.generation.llama.metadata import QTYPE_KEY, SOURCE_KEY
from engine.hashing import file_sha256
from tests.paths import OZ_DIR, REPO_ROOT

DEMO = Path(os.environ.get("SPREN_HOME", REPO_ROOT / ".spren")) / "models" / "oz-demo"
TEXT = OZ_DIR / "14-glinda-of-oz.txt"


def demo_copy(dest: Path) -> Path:
    """A folder of links to the demo model's files (no model.gguf): cheap to export into."""
    dest.mkdir()
    for f in DEMO.iterdir():
        if f.name not in ("model.gguf", ".spren-sha256.json"):
            (dest / f.name).symlink_to(f.resolve())
    return dest


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The demo model exported to Q8_0 in a temp folder, with the demo's GGUF as template."""
    if not (DEMO / "model.gguf").is_file():
        pytest.skip(f"demo model (with model.gguf) not built at {DEMO}: run `make demo-model`")
    folder = demo_copy(tmp_path_factory.mktemp("gguf") / "model")
    export_gguf(folder, folder / "model.gguf", DEMO / "model.gguf", "q8_0")
    return folder


@pytest.fixture(scope="module")
def sample_text():
    if not TEXT.is_file():
        pytest.skip(f"Oz corpus not found at {TEXT}")
    return TEXT.read_text(encoding="utf-8-sig")[30_000:30_600]


def test_tensors_and_metadata_read_back(exported):
    import gguf

    r = gguf.GGUFReader(exported / "model.gguf")
    tensors = {t.name: t for t in r.tensors}
    assert len(tensors) == 2 + 30 * 9  # embeddings, final norm, 9 per layer; lm_head is tied
    Q = gguf.GGMLQuantizationType
    assert tensors["token_embd.weight"].tensor_type == Q.Q8_0
    assert list(tensors["token_embd.weight"].shape) == [576, 49152]
    assert tensors["blk.29.attn_k.weight"].tensor_type == Q.Q8_0
    assert list(tensors["blk.29.attn_k.weight"].shape) == [576, 192]
    assert list(tensors["blk.0.ffn_down.weight"].shape) == [1536, 576]
    assert tensors["blk.0.attn_norm.weight"].tensor_type == Q.F32
    assert r.fields["llama.block_count"].contents() == 30
    assert r.fields["llama.attention.head_count_kv"].contents() == 3
    assert len(r.fields["tokenizer.ggml.tokens"].contents()) == 49152
    weights_sha = file_sha256(DEMO / "model.safetensors")
    assert r.fields[SOURCE_KEY].contents() == weights_sha
    assert read_key(exported / "model.gguf", SOURCE_KEY) == weights_sha
    assert read_key(exported / "model.gguf", QTYPE_KEY) == "q8_0"
    assert read_key(exported / "model.gguf", "llama.context_length") == 8192
    assert gguf_is_current(exported)


def test_llama_logits_and_bpc_match_torch(exported, sample_text):
    import torch

    from engine.generation.llama.scoring import LlamaScorer
    from engine.generation.loading import read_model
    from engine.training.evaluation import EvalText, evaluate, score_text

    model, tok = read_model(DEMO)
    ids = tok("Dorothy looked up at the tall trees and", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        want = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    with LlamaScorer(exported / "model.gguf", 128, threads=1) as scorer:
        got = scorer.logits(ids)
    assert got.shape == want.shape
    assert int(got[-1].argmax()) == int(want[-1].argmax())
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.8
    torch_bpc = score_text(model, tok, sample_text, block=128, stride=64).bpc
    text = EvalText("t", sample_text, 128, 64)
    llama_bpc = evaluate(exported, [text], threads=1, runtime="llama")[0].bpc
    assert abs(llama_bpc - torch_bpc) < 0.01, (llama_bpc, torch_bpc)


def test_stale_gguf_is_refused_by_the_llama_evaluator(tmp_path, exported):
    folder = demo_copy(tmp_path / "m")
    (folder / "model.gguf").symlink_to(exported / "model.gguf")
    assert gguf_is_current(folder)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert not gguf_is_current(folder)
    from engine.training.evaluation import EvalText, evaluate

    with pytest.raises(ModelError, match="other weights"):
        evaluate(folder, [EvalText("t", "Dorothy")], runtime="llama")


# ---- refusals, on tiny fake folders ------------------------------------------------------------
@pytest.fixture
def template(tmp_path):
    """A GGUF holding only a three-token tokenizer."""
    import gguf

    w = gguf.GGUFWriter(tmp_path / "template.gguf", "llama")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["a", "b", "c"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    return tmp_path / "template.gguf"


SIZES = {"vocab_size": 3, "max_position_embeddings": 8, "hidden_size": 32,
         "num_hidden_layers": 1, "intermediate_size": 64, "num_attention_heads": 1,
         "rms_norm_eps": 1e-5}


def fake_model(folder: Path, vocab: dict[str, int], model_type: str = "llama",
               sizes: bool = True) -> Path:
    """A folder that looks like a model up to the point each refusal is checked."""
    folder.mkdir()
    arch = "LlamaForCausalLM" if model_type == "llama" else "GPT2LMHeadModel"
    (folder / "config.json").write_text(json.dumps({"model_type": model_type,
                                                    "architectures": [arch],
                                                    **(SIZES if sizes else {})}))
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab},
                                                       "added_tokens": []}))
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    return folder


@pytest.mark.parametrize("vocab, message", [
    ({"a": 0, "b": 1}, "has 3 tokens but"),
    ({"a": 0, "b": 1, "d": 2}, r"differs .* in 1 tokens \(id 2: 'c' vs 'd'\)"),
])
def test_a_template_of_another_vocabulary_is_refused(tmp_path, template, vocab, message):
    folder = fake_model(tmp_path / "m", vocab)
    with pytest.raises(ModelError, match=message):
        export_gguf(folder, tmp_path / "out.gguf", template, "q8_0")
    assert not list(tmp_path.glob("*out.gguf*"))  # no partial file left behind


def test_other_refusals(tmp_path, template):
    folder = fake_model(tmp_path / "m", {"a": 0, "b": 1, "c": 2})
    out = tmp_path / "out.gguf"
    with pytest.raises(ModelError, match="unknown GGUF quant type 'q3_k'"):
        export_gguf(folder, out, template, "q3_k")
    with pytest.raises(ModelError, match="template GGUF .* does not exist"):
        export_gguf(folder, out, tmp_path / "none.gguf", "q8_0")
    unsized = fake_model(tmp_path / "u", {"a": 0, "b": 1, "c": 2}, sizes=False)
    with pytest.raises(ModelError, match="lacks vocab_size, max_position_embeddings"):
        export_gguf(unsized, out, template, "q8_0")
    gpt2 = fake_model(tmp_path / "g", {"a": 0}, model_type="gpt2")
    with pytest.raises(ModelError, match="Llama-architecture models"):
        export_gguf(gpt2, out, template, "q8_0")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="has no model.safetensors"):
        export_gguf(folder, out, template, "q8_0")
    (folder / "config.json").unlink()
    with pytest.raises(ModelError, match="has no config.json"):
        export_gguf(folder, out, template, "q8_0")
    assert not out.exists()


def test_read_key_stops_at_missing_or_foreign_files(tmp_path, template):
    assert read_key(template, "tokenizer.ggml.model") == "gpt2"
    assert read_key(template, "spren.source_sha256") is None
    assert read_key(tmp_path / "none.gguf", "x") is None
    (tmp_path / "text.gguf").write_text("not a gguf file at all, just text")
    assert read_key(tmp_path / "text.gguf", "x") is None


def test_a_lora_adapter_folder_is_merged_and_exported(tmp_path):
    """`spren model gguf ADAPTER_DIR`'s path: the adapter merged onto its base (from
    train_meta.json) in fp32, the q rows permuted, the identity of adapter + base recorded."""
    import gguf
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from engine.generation.llama.convert import convert_model_dir
    from engine.generation.llama.gguf import _permute, weights_sha256
    from engine.training.evaluation import load_for_scoring
    from engine.training.lora import LoraConfig, apply_lora, save_adapter

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(["Dorothy and Toto walked to the Emerald City."] * 4,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"],
                                                show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>")
    torch.manual_seed(0)
    base, adapter = tmp_path / "base", tmp_path / "adapter"
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=1,
                                         intermediate_size=128, num_attention_heads=2,
                                         num_key_value_heads=1, max_position_embeddings=64))
    model.save_pretrained(base)
    tok.save_pretrained(base)
    cfg = LoraConfig(rank=2, alpha=4, targets=["q_proj"])
    apply_lora(model, cfg)
    for name, p in model.named_parameters():
        if "lora_b" in name.lower():
            torch.nn.init.normal_(p)  # a non-zero update, so merging shows
    save_adapter(model, cfg, adapter)
    tok.save_pretrained(adapter)
    (adapter / "train_meta.json").write_text(json.dumps({"base": str(base)}))

    w = gguf.GGUFWriter(tmp_path / "template.gguf", "llama")
    vocab = tok.get_vocab()
    w.add_token_list(sorted(vocab, key=vocab.__getitem__))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()

    out = convert_model_dir(adapter, "f16", template=tmp_path / "template.gguf")
    assert out == adapter / "model.gguf" and [p.name for p in adapter.iterdir()
                                               if p.name.startswith("tmp")] == []
    assert gguf_is_current(adapter, weights_sha256(adapter, str(base)))
    assert not gguf_is_current(adapter, weights_sha256(base))
    merged, _ = load_for_scoring(adapter)
    q = merged.model.layers[0].self_attn.q_proj.weight.detach().numpy()
    tensors = {t.name: t for t in gguf.GGUFReader(out).tensors}
    assert len(tensors) == 3 + 9  # untied: output.weight too
    got = tensors["blk.0.attn_q.weight"].data.astype("float32")
    assert abs(got - _permute(q, 2)).max() < 1e-2
    base_q = LlamaForCausalLM.from_pretrained(base).model.layers[0].self_attn.q_proj.weight
    assert abs(got - _permute(base_q.detach().numpy(), 2)).max() > 0.1  # the adapter is in

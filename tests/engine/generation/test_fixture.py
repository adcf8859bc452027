"""The shared tiny_model_dir fixture yields a loadable model and tokenizer."""


def test_tiny_model_dir_loads(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, local_files_only=True)
    assert tok.eos_token == "<|endoftext|>"
    assert 900 <= len(tok) <= 1000
    assert model.config.n_positions == 256
    assert (tiny_model_dir / "model.safetensors").exists()
    ids = tok("Dorothy lived in Kansas.").input_ids
    assert tok.decode(ids) == "Dorothy lived in Kansas."

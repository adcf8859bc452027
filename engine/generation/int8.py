"""Weight-only int8 linear layers and embeddings for the CPU: a quarter of the weight bytes,
float activations."""

import torch

from engine.errors import ModelError


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weights, bfloat16 scale per row): symmetric, one scale per output row."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
    return torch.round(weight / scale[:, None]).to(torch.int8), scale.to(torch.bfloat16)


class Int8Linear(torch.nn.Module):
    """A Linear layer with int8 weights (one scale per output row) and bfloat16 matmul.

    Weight-only: activations stay in floating point, so quality is close to float32 (unlike
    torch's dynamic quantization, which also rounds activations to 8 bits and hurt SmolLM2
    badly), while each step reads a quarter of the weight bytes.
    """

    weight_int8: torch.Tensor
    scale: torch.Tensor

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        weight_int8, scale = quantize_rows(linear.weight)
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("scale", scale)
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.register_buffer("bias", bias)
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        y: torch.Tensor = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8,
                                                             self.scale).to(x.dtype)
        if isinstance(self.bias, torch.Tensor):
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


class Int8Embedding(torch.nn.Module):
    """An embedding table kept as int8 rows with one scale per row, looked up in float32.

    When the model ties its input embeddings to its output layer (SmolLM2, GPT-2), these are
    the very buffers of the int8 lm_head, so the table is stored once, in a quarter of the
    bytes: for SmolLM2-135M, 28 MB instead of 113 MB of float32.
    """

    weight_int8: torch.Tensor
    scale: torch.Tensor

    def __init__(self, weight_int8: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("scale", scale)
        self.embedding_dim = weight_int8.shape[1]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.weight_int8[ids].to(torch.float32)
        return rows * self.scale[ids].to(torch.float32).unsqueeze(-1)


def _ties_head(model: torch.nn.Module) -> bool:
    """True when the output layer's weight is the input embedding table."""
    get_in, get_out = (getattr(model, n, None) for n in
                       ("get_input_embeddings", "get_output_embeddings"))
    if get_in is None or get_out is None:
        return False
    emb, head = get_in(), get_out()
    return emb is not None and head is not None and head.weight is emb.weight


def _quantize_embeddings(model: torch.nn.Module, tied: bool) -> None:
    """Swap the input embeddings for an Int8Embedding (the int8 head's buffers when tied)."""
    emb = model.get_input_embeddings()  # type: ignore[operator]
    if not isinstance(emb, torch.nn.Embedding):
        return
    head = model.get_output_embeddings() if tied else None  # type: ignore[operator]
    if isinstance(head, Int8Linear):
        table = Int8Embedding(head.weight_int8, head.scale)
    else:
        table = Int8Embedding(*quantize_rows(emb.weight))
    model.set_input_embeddings(table)  # type: ignore[operator]


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Swap every nn.Linear (lm_head included) for an Int8Linear and the input embeddings for
    an Int8Embedding, in place.

    The float tensors that stay (norms, position tables) are copied out of the weights file's
    memory map, so that the map is released: otherwise the whole float32 file (540 MB for the
    demo model) stays resident beside the int8 weights made from it.
    """
    if not hasattr(torch.ops.aten, "_weight_int8pack_mm"):
        raise ModelError("dtype='int8' needs torch's _weight_int8pack_mm kernel: use 'float32'.")
    tied = _ties_head(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, Int8Linear(child))
    if hasattr(model, "get_input_embeddings"):
        _quantize_embeddings(model, tied)
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.is_floating_point():
                tensor.data = tensor.data.clone()
    return model

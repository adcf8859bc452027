"""Weight-only int8 linear layers for the CPU: a quarter of the weight bytes, float activations."""

import torch

from engine.errors import ModelError


class Int8Linear(torch.nn.Module):
    """A Linear layer with int8 weights (one scale per output row) and bfloat16 matmul.

    Weight-only: activations stay in floating point, so quality is close to float32 (unlike
    torch's dynamic quantization, which also rounds activations to 8 bits and hurt SmolLM2
    badly), while each step reads a quarter of the weight bytes.
    """

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).to(torch.int8))
        self.register_buffer("scale", scale.to(torch.bfloat16))
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


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Swap every nn.Linear (lm_head included) for an Int8Linear, in place."""
    if not hasattr(torch.ops.aten, "_weight_int8pack_mm"):
        raise ModelError("dtype='int8' needs torch's _weight_int8pack_mm kernel: use 'float32'.")
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, Int8Linear(child))
    return model

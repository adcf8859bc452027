"""The llama.cpp runtime: spren's decoding loop on llama.cpp (GGUF weights) instead of torch.

- ``lib``: the C API through ctypes, from the pinned xllamacpp wheel
"""

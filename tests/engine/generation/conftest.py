"""Fixtures of the generation tests that call a native llama.cpp build directly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.generation.llama import native
from tests.paths import REPO_ROOT


@pytest.fixture(scope="module")
def ggml_cpu() -> Path:
    """The native build's libggml-cpu.so, where spren's kernels and sampler live."""
    home = Path(os.environ.get("SPREN_HOME", REPO_ROOT / ".spren"))
    library, why = native.find_build(home / "lib")
    if library is None:
        pytest.skip(why)  # test_native_llama fails when make test should have built it
    return library.parent / "libggml-cpu.so"

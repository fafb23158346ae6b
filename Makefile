# Everything runs from the project's own virtual environment, built on first use.
# Python 3.12 (the Lambda runtime) is preferred; pyenv's copy is found even when its shim is not active.
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys' >/dev/null 2>&1 && { command -v $$p; exit; }; \
          done; command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
STAMP := $(VENV)/.installed

.PHONY: run dev test lint bench clean

$(STAMP): pyproject.toml layers/core/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## run: the main job, locally, with no AWS account, Docker or keys
run: $(STAMP)
	$(BIN)/python -m kimiyi_local run

## dev: the local stack on 127.0.0.1:$(PORT) until Ctrl-C
dev: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m kimiyi_local serve

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache

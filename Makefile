# `make demo` and `make test` work on a fresh machine: each creates .venv when
# missing and installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VENV312  := .venv312
STAMP312 := $(VENV312)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-fast test-312 lint bench slow docs gallery clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jlangevin demo --out demo-output

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check --exclude '*.md' .

# What CI runs: the default suite and the `long` checks (every test but the `slow`
# ones), then the diagnostics again under Python >= 3.12 (ArviZ 1.x).
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -m 'not slow' $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-312

# The default suite alone (a plain `pytest`: no `long`, no `slow` tests), about 5 minutes.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-312:
	@py=$$(tools/find-python312); \
	if [ -z "$$py" ]; then \
	  echo "test-312: no Python >= 3.12 on this machine: the ArviZ 1.x run of tests/diagnostics is SKIPPED."; \
	else \
	  set -e; \
	  echo "test-312: ArviZ 1.x run of tests/diagnostics with $$py"; \
	  if [ ! -f $(STAMP312) ] || [ pyproject.toml -nt $(STAMP312) ]; then \
	    test -x $(VENV312)/bin/python || "$$py" -m venv $(VENV312); \
	    $(VENV312)/bin/python -m pip install -q --upgrade pip; \
	    $(VENV312)/bin/python -m pip install -q -e '.[dev]' 'arviz>=1.0'; \
	    touch $(STAMP312); \
	  fi; \
	  $(VENV312)/bin/python -m pytest -q -m 'not slow' tests/diagnostics $(PYTEST_ARGS); \
	fi

slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The documentation site, built with warnings as errors (into site/).
docs: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	tools/build-docs

# The five reference examples in full: their checks, and their pictures for the docs.
gallery: $(STAMP)
	$(BIN)/jlangevin gallery all --out docs/img/gallery
	$(BIN)/python tools/gallery-page

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/jlangevin bench

clean:
	rm -rf $(VENV) $(VENV312) demo-output gallery-output site .pytest_cache

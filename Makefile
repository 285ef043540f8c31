# Two entry points for a fresh machine: `make run` and `make test`.
# Each creates its own virtualenv (.venv) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CONFIG ?= mailstead.toml

.PHONY: run test lint venv clean

$(BIN)/mailstead: pyproject.toml setup.py src/mailstead/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/mailstead

venv: $(BIN)/mailstead

# Run the server on the embedded default (SQLite, self-signed certificate, demo domain).
run: venv
	@if [ ! -f $(CONFIG) ]; then \
		$(BIN)/mailstead --config $(CONFIG) init --hostname $${MAILSTEAD_HOSTNAME:-mail.example.test} \
			--domain $${MAILSTEAD_DOMAIN:-example.test} --data ./data; \
	fi
	$(BIN)/mailstead --config $(CONFIG) serve

# The whole test suite (what .ci/run calls).
test: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache

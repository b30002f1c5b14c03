# Developer and CI entry points: .ci/run calls these same targets, so the two cannot drift.
# Needs only make and Python 3.11; everything else is installed into .venv from the pinned requirements.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; older than a requirements file means "install again".
STAMP := $(VENV)/.requirements-installed

.PHONY: venv test lint format

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Extra pytest arguments: make test PYTEST_ARGS="tests/test_auth.py -x"
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Sorts imports and formats; other lint findings are left for a person to fix.
format: venv
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

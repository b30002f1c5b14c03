# Developer and CI entry points: .ci/run calls these same targets, so the two cannot drift.
# Needs only make and Python 3.11; everything else is installed into .venv from the pinned requirements.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; older than a requirements file means "install again".
STAMP := $(VENV)/.requirements-installed

.PHONY: venv test test-slow lint format security

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Extra pytest arguments: make test PYTEST_ARGS="tests/test_auth.py -x"
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The slow reliability and load tests (servers killed and restarted, 50 reviewers for 3 minutes).
test-slow: venv
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Static security scan, medium severity and up; each accepted finding carries `# nosec <id> # reason` in the code.
# Bandit's stderr (a warning per line of a multi-line `# nosec` statement) is shown only when it fails.
security: venv
	$(BIN)/bandit -q -r connectors reviews pipeaccess -ll 2>$(VENV)/bandit.log || { cat $(VENV)/bandit.log; exit 1; }

# Sorts imports and formats; other lint findings are left for a person to fix.
format: venv
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

.PHONY: demo run

# A simulated GitHub org, synced, with one user per role; web, worker and beat until Ctrl-C (see README).
demo: venv
	$(BIN)/python manage.py demo

# Web, worker and beat on whatever is configured (DATABASE_URL, REDIS_URL), without demo data.
run: venv
	$(BIN)/python manage.py serve

.PHONY: bench bench-small bench-scale

# The benchmarks, GitHub, Harbor then GitLab (about two minutes on 2 CPUs; one system: make bench
# BENCH_ARGS="--system harbor"): need PostgreSQL, for COPY. DATABASE_URL if set, else the database below (created
# if missing). The HTTP cache goes to Redis when REDIS_URL is set or one answers on 127.0.0.1:6379: Django's file
# cache lists its whole directory on every write, which slows a full sync of thousands of pages several-fold.
# Reports: var/bench/github-foundation.json, harbor-registry.json, gitlab-groups.json.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pipeaccess_bench
BENCH_ENV = DATABASE_URL="$${DATABASE_URL:-$(BENCH_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$$( \
	$(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 6379), 1).close()" 2>/dev/null \
	&& echo redis://127.0.0.1:6379/0)}"

bench: venv
	$(BENCH_ENV) $(BIN)/python manage.py bench $(BENCH_ARGS)

# The same at a tenth of the size, to check the bench itself.
bench-small: venv
	$(BENCH_ENV) $(BIN)/python manage.py bench --small $(BENCH_ARGS)

# The scale bench (README "Scale"): a synthetic pipeline of size S, M or L synced at the simulated APIs' own
# limits, against a naive script and raw SQL baselines. CI runs size S. Report: var/bench/scale-SIZE.json.
SCALE ?= S
bench-scale: venv
	$(BENCH_ENV) $(BIN)/python manage.py bench --scale $(SCALE) $(BENCH_ARGS)

.PHONY: screenshots

# The README's screenshots (pipeaccess/static/docs/*.png), taken by the browser tests in headless Chromium.
screenshots: venv
	PIPEACCESS_SCREENSHOTS=1 $(BIN)/python -m pytest tests/ui

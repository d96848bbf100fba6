# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine
# with Python 3.11 and nothing else; set DATABASE_URL and CELERY_BROKER_URL to use
# PostgreSQL and Redis instead of the embedded SQLite and filesystem broker.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast install lint format serve migrate clean

demo: install migrate
	$(BIN)/python manage.py seed_demo
	@echo "Serving http://127.0.0.1:8000 (web, workers and beat; Ctrl-C stops them all)"
	PATH="$(BIN):$$PATH" $(BIN)/honcho start --procfile Procfile

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run
	@# pytest exits 5 when it collected nothing: say so, a run that tests nothing must fail.
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: nothing was tested." >&2; fi; \
	exit $$status

# The inner loop: everything but the tests marked slow (those that start Celery workers,
# servers or a second test session, train a network, run the real-world checkpoints, inject
# faults, drive the browser or time the markdown renderer); `make test` runs them all.
test-fast: install
	$(BIN)/ruff check .
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -m "not slow" -q $(PYTEST_ARGS)

install: $(STAMP)

# torch is installed first and pinned: 2.13.0 resolves to the local CPU wheel here, and
# having it in place keeps pip from pulling a CUDA build for anything that depends on it.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Atelier needs Python 3.11 (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

serve: install migrate
	PATH="$(BIN):$$PATH" $(BIN)/honcho start --procfile Procfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var

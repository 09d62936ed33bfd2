# OneFact: `make run` serves the embedded default (`make run PORT=8001` for another port),
# `make test` runs the whole suite in parallel, `make test-fast` all but the slow tests.
PYTHON ?= python3
PORT ?= 8000
# pytest-xdist: one process per core; `make test PYTEST_WORKERS=0` runs in this process.
PYTEST_WORKERS ?= auto
VENV := .venv
BIN := $(VENV)/bin
# The embedded default: SQLite file, Celery tasks in-process, the demo storefront.
RUN_ENV := DJANGO_DEBUG=1

.PHONY: run test test-fast lint format migrate seed worker beat clean messages catalogues

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# The Spanish catalogue (config/locale/es/LC_MESSAGES/django.po) is compiled before serving
# and before testing, so a .mo is never stale; .mo files are not committed.
catalogues: $(VENV)/.installed-run
	$(RUN_ENV) $(BIN)/python manage.py compile_catalogues

# Re-extract the messages into the catalogue (needs GNU gettext), then translate the new ones.
messages: $(VENV)/.installed-run
	$(RUN_ENV) $(BIN)/python manage.py makemessages --locale es --no-location --no-wrap --no-obsolete \
		--ignore '.venv/*' --ignore 'node_modules/*' --ignore 'tests/*' --ignore 'staticfiles/*'

run: catalogues
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@echo "OneFact on http://127.0.0.1:$(PORT) — log in with one of the demo users above."
	$(RUN_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(RUN_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(RUN_ENV) $(BIN)/python manage.py compile_catalogues
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The quick loop while developing: no browser, live-server, worker or load tests.
test-fast: $(VENV)/.installed-dev
	$(RUN_ENV) $(BIN)/python manage.py compile_catalogues
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: $(VENV)/.installed-run
	$(BIN)/celery -A config worker --loglevel=info

beat: $(VENV)/.installed-run
	$(BIN)/celery -A config beat --loglevel=info

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .hypothesis .ruff_cache *.egg-info

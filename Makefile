# Switchboard: two commands on a fresh clone with only python3.
#   make demo   build .venv, migrate SQLite, seed demo data, run web + task cluster
#   make test   build .venv, ruff, mypy, pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: demo test lint typecheck pytest lock venv clean

venv: $(STAMP)

$(STAMP): requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	@touch $(STAMP)

demo: venv
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py migrate --no-input
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py createcachetable
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py collectstatic --no-input --verbosity 0
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py seed_demo
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py run_demo --port $(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy .

pytest: venv
	$(BIN)/pytest -n 2

test: lint typecheck pytest

# Regenerate the locks after editing requirements/*.in.
lock: venv
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras -o base.txt base.in
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras -o dev.txt dev.in

clean:
	rm -rf $(VENV) var/ staticfiles/ .mypy_cache .ruff_cache .pytest_cache

# Switchboard: two commands on a fresh clone with only python3.
#   make demo   build .venv, migrate SQLite, seed demo data, run web + task cluster
#               (+ the local OIDC IdP for "Sign in with SSO" when node is installed)
#   make test   build .venv, ruff, mypy, install the local OIDC IdP (if node exists), pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# The local OpenID Connect provider the SSO tests log in through (oidc-provider, from its lock).
IDP_DIR := tests/idp/oidc
IDP_STAMP := $(IDP_DIR)/node_modules/.installed

.PHONY: demo test lint typecheck pytest idp lock venv clean

venv: $(STAMP)

$(STAMP): requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	@touch $(STAMP)

demo: venv idp
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py migrate --no-input
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py collectstatic --no-input --verbosity 0
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py seed_demo
	DJANGO_SETTINGS_MODULE=config.settings.local $(IDP_DIR)/with-idp.sh $(BIN)/python manage.py run_demo --port $(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy .

# npm ci from package-lock.json; without node the SSO tests skip and say why.
idp:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(IDP_STAMP); \
	else \
		echo "node/npm not found: the local OIDC IdP is not installed, SSO tests will be skipped"; \
	fi

$(IDP_STAMP): $(IDP_DIR)/package.json $(IDP_DIR)/package-lock.json
	cd $(IDP_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

pytest: venv idp
	$(BIN)/pytest -n 2

test: lint typecheck pytest

# Regenerate the locks after editing requirements/*.in.
lock: venv
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras -o base.txt base.in
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras -o dev.txt dev.in

clean:
	rm -rf $(VENV) var/ staticfiles/ .mypy_cache .ruff_cache .pytest_cache $(IDP_DIR)/node_modules

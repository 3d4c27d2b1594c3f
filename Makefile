# Switchboard: two commands on a fresh clone with only python3.
#   make demo   build .venv, migrate SQLite, seed demo data, run web + task cluster
#               (+ the local OIDC IdP for "Sign in with SSO" when node is installed)
#   make test   build .venv, ruff + bandit, mypy, the security gates (Django's deployment checks,
#               the dependency audit), install the local OIDC IdP (if node exists), pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# The local OpenID Connect provider the SSO tests log in through (oidc-provider, from its lock).
IDP_DIR := tests/idp/oidc
IDP_STAMP := $(IDP_DIR)/node_modules/.installed

.PHONY: demo test lint typecheck security check-deploy audit pytest idp lock venv clean

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

# The apps bandit reads; a finding of medium or high severity fails (docs/security.md). Its
# warnings about `# nosec` lines go to a log that is shown only when it fails.
BANDIT_TARGETS := accounting accounts config integrations notifications orders payments shipping usage

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(BIN)/bandit -q -c pyproject.toml --severity-level medium -r $(BANDIT_TARGETS) \
		2>$(VENV)/bandit.log || { cat $(VENV)/bandit.log; exit 1; }
	@echo "bandit: no finding of medium or high severity in $(BANDIT_TARGETS)"

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

# Django's deployment checks on the production settings with the env a deployment sets: these
# values are fakes that exist only here (tests/config/test_production.py runs the same check).
DEPLOY_CHECK_ENV := DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_DEBUG=false \
	DJANGO_SECRET_KEY=make-check-deploy-fake-q8Zr2vN5xT1mK7pW3yL9cB4hF6jD0sGaE2uR8iO5nV1 \
	DJANGO_ALLOWED_HOSTS=switchboard.example.com \
	PAYMENT_PROVIDER=stripe STRIPE_ENABLED=true \
	STRIPE_SECRET_KEY=sk_live_fake-make-check-deploy \
	STRIPE_WEBHOOK_SECRET=whsec_makecheckdeployfake0123 \
	SANDBOX_ENABLED=true SANDBOX_IN_PRODUCTION=true \
	SANDBOX_WEBHOOK_SECRET=whsec_bWFrZS1jaGVjay1kZXBsb3ktZmFrZS1zYW5kYm94LWtleQ==

check-deploy: venv
	@echo "manage.py check --deploy --fail-level WARNING (config.settings.production, fake env)"
	@env $(DEPLOY_CHECK_ENV) $(BIN)/python manage.py check --deploy --fail-level WARNING

# pip-audit over the lock; one skip line where its vulnerability data cannot be reached
# (ignored advisories, each with its reason: requirements/audit-ignore.txt).
audit: venv
	$(BIN)/python manage.py audit_dependencies

security: check-deploy audit

pytest: venv idp
	$(BIN)/pytest -n 2

test: lint typecheck security pytest

# Regenerate the locks after editing requirements/*.in.
lock: venv
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras -o base.txt base.in
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras -o dev.txt dev.in

clean:
	rm -rf $(VENV) var/ staticfiles/ .mypy_cache .ruff_cache .pytest_cache $(IDP_DIR)/node_modules

#!/usr/bin/env sh
# Runs a command (the demo) with the local OIDC IdP beside it, when node and the installed IdP
# (`make idp`) are there: starts tests/idp/oidc/server.js on 127.0.0.1:$IDP_PORT, points
# Switchboard's SSO at it through OIDC_* variables, and stops it when the command ends.
# Without node it says so and runs the command with password logins only.
#
#   IDP_PORT=8010 tests/idp/oidc/with-idp.sh .venv/bin/python manage.py run_demo
set -u
here="$(cd "$(dirname "$0")" && pwd)"
port="${IDP_PORT:-8010}"

if ! command -v node >/dev/null 2>&1 || [ ! -d "$here/node_modules/oidc-provider" ]; then
    echo "SSO: node or the local OIDC IdP is missing (install node, then 'make idp');" \
        "the demo runs with password logins only."
    exec "$@"
fi

IDP_PORT="$port" IDP_CLIENT_ID=switchboard IDP_CLIENT_SECRET=switchboard-local-secret \
    node "$here/server.js" >/dev/null &
idp_pid=$!
trap 'kill "$idp_pid" 2>/dev/null' EXIT INT TERM

issuer="http://127.0.0.1:$port"
ready=0
for _ in $(seq 1 50); do
    if ! kill -0 "$idp_pid" 2>/dev/null; then
        break
    fi
    if node -e "fetch('$issuer/.well-known/openid-configuration').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
        ready=1
        break
    fi
    sleep 0.2
done
if [ "$ready" != 1 ]; then
    echo "SSO: the local OIDC IdP did not start on 127.0.0.1:$port (port taken? set IDP_PORT);" \
        "the demo runs with password logins only."
    kill "$idp_pid" 2>/dev/null
    trap - EXIT INT TERM
    exec "$@"
fi

echo "SSO: local OIDC IdP at $issuer. On the sign-in page, click 'Sign in with SSO' and log in" \
    "as support, sales, finance, ops or admin (or 'nobody', who gets no access);" \
    "password switchboard-demo. Password logins work as before."
export OIDC_RP_CLIENT_ID=switchboard
export OIDC_RP_CLIENT_SECRET=switchboard-local-secret
export OIDC_OP_DISCOVERY_URL="$issuer/.well-known/openid-configuration"
"$@"

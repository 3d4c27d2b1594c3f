"""Staff SSO against a real OpenID Connect provider on loopback (tests/idp/oidc, oidc-provider).

The IdP runs as a node process (installed by `make idp`, i.e. `npm ci` in tests/idp/oidc); each
test starts its own Django live server with SSO configured through discovery, and drives the
whole authorization-code flow (PKCE, login form, consent form, callback, session) with requests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from pytest_django.live_server_helper import LiveServer

from accounts.access.oidc import _DISCOVERY_CACHE, StaffOIDCBackend, roles_for_groups
from accounts.access.roles import ROLES
from accounts.models import User
from config.settings.oidc import parse_group_role_map

IDP_DIR = Path(__file__).resolve().parent.parent / "idp" / "oidc"
CLIENT_ID = "switchboard"
CLIENT_SECRET = "switchboard-test-secret"
PASSWORD = "pw-idp-tests"


@dataclass
class Idp:
    issuer: str
    accounts_file: Path

    def set_accounts(self, accounts: dict[str, Any]) -> None:
        """Login (the IdP's ``sub``) -> groups, or -> a dict of account fields to override
        (``groups``, ``email``, ``email_verified``); written to the file the IdP reads at every
        account lookup."""
        data = {}
        for login, spec in accounts.items():
            fields = spec if isinstance(spec, dict) else {"groups": spec}
            data[login] = {
                "password": PASSWORD,
                "email": f"{login}@idp.switchboard.test",
                "name": f"{login.capitalize()} Person",
                **fields,
            }
        self.accounts_file.write_text(json.dumps(data))


DEFAULT_ACCOUNTS = {
    "sam": ["switchboard-support"],
    "fin": ["switchboard-finance", "unrelated"],
    "nobody": ["some-other-app"],
}


@pytest.fixture(scope="session")
def idp_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the local OIDC IdP (tests/idp/oidc) cannot run")
    if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("the test IdP is not installed: run `make idp` (npm ci in tests/idp/oidc)")
    accounts_file = tmp_path_factory.mktemp("idp") / "accounts.json"
    idp = Idp(issuer="", accounts_file=accounts_file)
    idp.set_accounts(DEFAULT_ACCOUNTS)
    env: dict[str, str] = {
        **os.environ,
        "IDP_PORT": "0",
        "IDP_ACCOUNTS_FILE": str(accounts_file),
        "IDP_CLIENT_ID": CLIENT_ID,
        "IDP_CLIENT_SECRET": CLIENT_SECRET,
    }
    proc, log, idp.issuer = _start_idp(node, env, accounts_file.parent)
    try:
        yield idp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _start_idp(
    node: str, env: dict[str, str], folder: Path
) -> tuple[subprocess.Popen[bytes], Any, str]:
    """Start the IdP; return it, its log and its issuer once it printed its ready line.

    The line is read from the pipe's file descriptor itself (no buffered reader that could hold
    it while ``select`` waits on the empty pipe), stdin is closed, and a start that prints nothing
    within the bound is tried once more with a fresh process before failing with its log.
    """
    failures = []
    for attempt in (1, 2):
        log_path = folder / f"idp-{attempt}.log"
        log = log_path.open("w")
        proc = subprocess.Popen(
            [node, str(IDP_DIR / "server.js")],
            cwd=IDP_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        assert proc.stdout is not None
        started = time.monotonic()
        line = _read_line(proc.stdout.fileno(), deadline=started + 45)
        if line.startswith("IDP_READY "):
            return proc, log, line.split()[1]
        proc.kill()
        proc.wait()
        log.close()
        failures.append(
            f"attempt {attempt}: after {time.monotonic() - started:.1f} s, exit code "
            f"{proc.returncode}, stdout {line!r}, log: {log_path.read_text()[-2000:]!r}"
        )
    pytest.fail("the OIDC IdP did not start: " + "; ".join(failures))


def _read_line(fd: int, *, deadline: float) -> str:
    """The first line written to ``fd`` before ``deadline`` ('' at end of file or time)."""
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data and (left := deadline - time.monotonic()) > 0:
            if selector.select(timeout=left):
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
    return data.split(b"\n", 1)[0].decode() if b"\n" in data else ""


@pytest.fixture
def idp(idp_process: Idp) -> Iterator[Idp]:
    idp_process.set_accounts(DEFAULT_ACCOUNTS)
    yield idp_process
    idp_process.set_accounts(DEFAULT_ACCOUNTS)


def _configure(settings: Any, idp: Idp, *, recheck_seconds: int = 900) -> None:
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_DISCOVERY_URL = f"{idp.issuer}/.well-known/openid-configuration"
    for name in (
        "OIDC_OP_ISSUER",
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
    ):
        setattr(settings, name, "")
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = recheck_seconds
    settings.SSO_GROUP_ROLE_MAP = parse_group_role_map("")
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "accounts.access.oidc.StaffOIDCBackend",
    ]
    if "accounts.access.oidc.SSOSessionRecheck" not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, "accounts.access.oidc.SSOSessionRecheck"]


@pytest.fixture
def make_server(settings: Any, idp: Idp) -> Iterator[Any]:
    """A live server whose middleware is built with SSO configured (as at start-up)."""
    servers: list[LiveServer] = []

    def start(*, recheck_seconds: int = 900) -> str:
        _configure(settings, idp, recheck_seconds=recheck_seconds)
        server = LiveServer("127.0.0.1:0")
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def _form_action(html: str, contains: str) -> str:
    for action in re.findall(r'<form[^>]*action="([^"]+)"', html):
        if contains in action:
            return action
    raise AssertionError(f"no form posting to *{contains}* in:\n{html[:2000]}")


def sso_login(http: requests.Session, base_url: str, idp: Idp, login: str) -> requests.Response:
    """Click "Sign in with SSO", fill the IdP's login form, allow on its consent page."""
    page = http.get(f"{base_url}/admin/login/?next=/admin/", timeout=30)
    assert page.status_code == 200
    assert "Sign in with SSO" in page.text
    start = http.get(
        f"{base_url}/oidc/authenticate/?next=/admin/", allow_redirects=False, timeout=30
    )
    assert start.status_code == 302
    authorize = urlparse(start.headers["Location"])
    query = parse_qs(authorize.query)
    assert f"{authorize.scheme}://{authorize.netloc}" == idp.issuer
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] and query["nonce"] and query["state"]
    login_page = http.get(start.headers["Location"], timeout=30)
    assert login_page.status_code == 200, login_page.text
    assert 'name="password"' in login_page.text
    action = _form_action(login_page.text, "/login")
    consent = http.post(
        f"{idp.issuer}{action}", data={"login": login, "password": PASSWORD}, timeout=30
    )
    assert consent.status_code == 200, consent.text
    assert "Authorize" in consent.text
    return http.post(f"{idp.issuer}{_form_action(consent.text, '/confirm')}", timeout=30)


def _roles(user: User) -> set[str]:
    return set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


@pytest.mark.django_db(transaction=True)
def test_support_group_user_lands_in_the_admin_as_support(make_server, idp):
    base_url = make_server()
    with requests.Session() as http:
        final = sso_login(http, base_url, idp, "sam")
        assert final.status_code == 200
        assert final.url == f"{base_url}/admin/"
        assert "Site administration" in final.text or "Back-office" in final.text
        assert "sessionid" in http.cookies
    user = User.objects.get(email="sam@idp.switchboard.test")
    assert user.username == "sam"
    assert (user.first_name, user.last_name) == ("Sam", "Person")
    assert user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert _roles(user) == {"support"}


@pytest.mark.django_db(transaction=True)
def test_user_with_no_mapped_group_gets_the_no_access_page_and_no_session(make_server, idp):
    base_url = make_server()
    with requests.Session() as http:
        final = sso_login(http, base_url, idp, "nobody")
        assert final.status_code == 403
        assert final.url == f"{base_url}/sso/no-access/"
        assert "not in any group that gives access" in final.text
        admin = http.get(f"{base_url}/admin/", allow_redirects=False, timeout=30)
        assert admin.status_code == 302
        assert "/admin/login/" in admin.headers["Location"]
    assert not User.objects.filter(email="nobody@idp.switchboard.test").exists()


@pytest.mark.django_db(transaction=True)
def test_group_change_at_the_idp_changes_roles_at_next_login(make_server, idp):
    base_url = make_server()
    Group.objects.get_or_create(name="newsletter")
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "sam").url == f"{base_url}/admin/"
    user = User.objects.get(username="sam")
    user.groups.add(Group.objects.get(name="newsletter"))
    assert _roles(user) == {"support"}

    idp.set_accounts({**DEFAULT_ACCOUNTS, "sam": ["switchboard-finance", "switchboard-ops"]})
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "sam").url == f"{base_url}/admin/"
    assert _roles(user) == {"finance", "ops"}
    assert user.groups.filter(name="newsletter").exists()  # groups that are not roles stay

    # Removed from every mapped group: refused, and the account loses staff access and roles.
    idp.set_accounts({**DEFAULT_ACCOUNTS, "sam": ["some-other-app"]})
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "sam").status_code == 403
    user.refresh_from_db()
    assert _roles(user) == set()
    assert not user.is_staff


@pytest.mark.django_db(transaction=True)
def test_session_recheck_follows_the_idp_without_a_new_login(make_server, idp):
    base_url = make_server(recheck_seconds=2)
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "fin").url == f"{base_url}/admin/"
        user = User.objects.get(username="fin")
        assert _roles(user) == {"finance"}

        # Groups change at the IdP: the next GET after the re-check interval goes to the IdP
        # (prompt=none, no form) and comes back with the new roles.
        idp.set_accounts({**DEFAULT_ACCOUNTS, "fin": ["switchboard-sales"]})
        time.sleep(2.2)
        page = http.get(f"{base_url}/admin/", timeout=30)
        assert page.status_code == 200, [r.headers.get("Location") for r in page.history]
        assert page.url == f"{base_url}/admin/"
        assert any(idp.issuer in r.url for r in page.history)
        assert _roles(user) == {"sales"}

        # Removed at the IdP: the re-check fails and the session here ends.
        idp.set_accounts({k: v for k, v in DEFAULT_ACCOUNTS.items() if k != "fin"})
        time.sleep(2.2)
        page = http.get(f"{base_url}/admin/", timeout=30)
        assert page.url == f"{base_url}/sso/no-access/", page.status_code
        assert page.status_code == 403
        admin = http.get(f"{base_url}/admin/", allow_redirects=False, timeout=30)
        assert admin.status_code == 302
        assert "/admin/login/" in admin.headers["Location"]


@pytest.mark.django_db(transaction=True)
def test_a_tampered_authorization_response_is_refused(make_server, idp):
    base_url = make_server()
    with requests.Session() as http:
        start = http.get(f"{base_url}/oidc/authenticate/?next=/admin/", timeout=30)
        consent = http.post(
            f"{idp.issuer}{_form_action(start.text, '/login')}",
            data={"login": "sam", "password": PASSWORD},
            timeout=30,
        )
        response = http.post(
            f"{idp.issuer}{_form_action(consent.text, '/confirm')}",
            allow_redirects=False,
            timeout=30,
        )
        while not response.headers["Location"].startswith(f"{base_url}/oidc/callback/"):
            response = http.get(response.headers["Location"], allow_redirects=False, timeout=30)
        callback = urlparse(response.headers["Location"])
        query = {k: v[0] for k, v in parse_qs(callback.query).items()}
        query["code"] = query["code"][:-4] + "AAAA"  # not the code the IdP issued
        final = http.get(f"{base_url}/oidc/callback/?{urlencode(query)}", timeout=30)
        assert final.url == f"{base_url}/sso/no-access/"
        assert final.status_code == 403
        assert "could not be verified" in final.text
        admin = http.get(f"{base_url}/admin/", allow_redirects=False, timeout=30)
        assert admin.status_code == 302
    assert not User.objects.filter(email="sam@idp.switchboard.test").exists()


@pytest.mark.django_db(transaction=True)
def test_password_login_still_works_with_sso_on(make_server, idp):
    User.objects.create_user("local", password="pw-for-tests-only", is_staff=True)
    base_url = make_server()
    with requests.Session() as http:
        http.get(f"{base_url}/admin/login/", timeout=30)
        page = http.post(
            f"{base_url}/admin/login/?next=/admin/",
            data={
                "username": "local",
                "password": "pw-for-tests-only",
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": f"{base_url}/admin/login/"},
            timeout=30,
        )
        assert page.url == f"{base_url}/admin/"


def _real_id_token(idp: Idp, login: str) -> tuple[str, str]:
    """An ID token the IdP issues to our client, and the nonce it carries."""
    tokens, nonce = idp_tokens(idp, login)
    return tokens["id_token"], nonce


def idp_tokens(idp: Idp, login: str, *, resource: str = "") -> tuple[dict[str, str], str]:
    """The token response the IdP gives our client (and the nonce sent), by a code flow driven
    from the test itself; with ``resource`` (RFC 8707) the access token is a JWT for that
    audience. Shared with tests/accounts/test_api_auth.py."""
    discovery = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=30).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    nonce, redirect_uri = secrets.token_urlsafe(16), "http://127.0.0.1:9/oidc/callback/"
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": "openid email profile groups" + (" api" if resource else ""),
        "state": secrets.token_urlsafe(16),
        "nonce": nonce,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **({"resource": resource} if resource else {}),
    }
    with requests.Session() as http:
        page = http.get(f"{discovery['authorization_endpoint']}?{urlencode(params)}", timeout=30)
        consent = http.post(
            f"{idp.issuer}{_form_action(page.text, '/login')}",
            data={"login": login, "password": PASSWORD},
            timeout=30,
        )
        response = http.post(
            f"{idp.issuer}{_form_action(consent.text, '/confirm')}",
            allow_redirects=False,
            timeout=30,
        )
        while not response.headers["Location"].startswith(redirect_uri):
            response = http.get(response.headers["Location"], allow_redirects=False, timeout=30)
    code = parse_qs(urlparse(response.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code_verifier": verifier,
            **({"resource": resource} if resource else {}),
        },
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json(), nonce


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_id_token_checks_signature_audience_and_nonce(settings, idp):
    _configure(settings, idp)
    _DISCOVERY_CACHE.clear()
    token, nonce = _real_id_token(idp, "sam")

    claims = StaffOIDCBackend().verify_token(token, nonce=nonce)
    assert claims["sub"] == "sam"
    assert claims["aud"] == CLIENT_ID
    assert claims["iss"] == idp.issuer

    # Tampered: the payload says someone else, the signature is the IdP's original one.
    header, payload, signature = token.split(".")
    forged = {**json.loads(_unb64(payload)), "sub": "fin", "email": "fin@idp.switchboard.test"}
    tampered = f"{header}.{_b64(json.dumps(forged).encode())}.{signature}"
    with pytest.raises(SuspiciousOperation, match="Signature verification failed"):
        StaffOIDCBackend().verify_token(tampered, nonce=nonce)

    # Signature flipped, payload intact.
    bad_signature = f"{header}.{payload}.{_b64(bytes(b ^ 1 for b in _unb64(signature)))}"
    with pytest.raises(SuspiciousOperation):
        StaffOIDCBackend().verify_token(bad_signature, nonce=nonce)

    # Unsigned ("alg": "none") copy of a real token.
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    with pytest.raises(SuspiciousOperation):
        StaffOIDCBackend().verify_token(f"{none_header}.{payload}.", nonce=nonce)

    # A replayed token with another login's nonce.
    with pytest.raises(SuspiciousOperation, match="Nonce"):
        StaffOIDCBackend().verify_token(token, nonce="another-nonce")

    # The same genuine token presented to a relying party with another client id.
    settings.OIDC_RP_CLIENT_ID = "another-client"
    with pytest.raises(SuspiciousOperation, match=r"(?i)audience"):
        StaffOIDCBackend().verify_token(token, nonce=nonce)

    # ... or expecting another issuer.
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:1"
    with pytest.raises(SuspiciousOperation, match=r"(?i)issuer"):
        StaffOIDCBackend().verify_token(token, nonce=nonce)


def test_group_role_map_parsing(settings):
    assert parse_group_role_map("") == {f"switchboard-{r}": r for r in ROLES}
    assert parse_group_role_map("eng-oncall:ops, Finance Team:finance") == {
        "eng-oncall": "ops",
        "Finance Team": "finance",
    }
    assert parse_group_role_map('{"cn=support,ou=groups": "support"}') == {
        "cn=support,ou=groups": "support"
    }
    with pytest.raises(ValueError, match="unknown roles"):
        parse_group_role_map("x:root")
    with pytest.raises(ValueError, match="idp-group:role"):
        parse_group_role_map("lonely")
    settings.SSO_GROUP_ROLE_MAP = {"a": "ops", "b": "support", "c": "ops"}
    assert roles_for_groups(["c", "a", "b", "zzz"]) == ["support", "ops"]
    assert roles_for_groups("b") == ["support"]
    assert roles_for_groups(None) == []


def test_sso_endpoints_are_absent_when_not_configured(client, settings):
    settings.OIDC_ENABLED = False
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert "Sign in with SSO" not in page.content.decode()


@pytest.mark.django_db
def test_unreachable_idp_gives_a_clear_page_not_an_error(client, settings):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _configure(settings, Idp(issuer=f"http://127.0.0.1:{port}", accounts_file=Path()))
    _DISCOVERY_CACHE.clear()
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302
    assert start["Location"] == "/sso/no-access/"
    page = client.get("/sso/no-access/")
    assert page.status_code == 403
    assert "cannot be reached" in page.content.decode()
    _DISCOVERY_CACHE.clear()

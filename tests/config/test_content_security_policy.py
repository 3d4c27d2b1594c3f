"""Every page of the site carries a Content-Security-Policy with no inline script, and no
template has an inline script or event handler for it to refuse (issue 16 item 3; the browser
side is tests/browser/test_content_security_policy.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from config.settings.saml import saml_app, saml_providers
from tests.factories import make_staff

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I
)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)


def _policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    policy = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        policy[name] = values
    return policy


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [
        ("/admin/login/", False),
        ("/admin/", True),
        ("/admin/orders/order/", True),
        ("/api/docs/", True),
        ("/api/schema/", True),
        ("/health/", False),
        ("/webhooks/no-such-provider/", False),
        ("/no-such-page/", False),
    ],
)
def test_every_kind_of_page_carries_the_policy(client: Client, db: None, path, signed_in):
    if signed_in:
        client.force_login(make_staff("csp-reader", is_superuser=True))
    response = client.get(path)
    assert response.status_code in (200, 404, 405), response.status_code
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["base-uri"] == ["'self'"]
    assert all("unsafe" not in value for value in policy["script-src"] + policy["default-src"])


def test_form_action_adds_the_idp_origins_from_the_sso_settings(client: Client, db, settings):
    settings.OIDC_OP_DISCOVERY_URL = "https://login.example.com/.well-known/openid-configuration"
    settings.OIDC_OP_LOGOUT_ENDPOINT = "https://login.example.com/session/end"
    settings.SOCIALACCOUNT_PROVIDERS = saml_providers(
        [
            saml_app(
                idp_entity_id="https://idp.example.org/metadata",
                idp_sso_url="https://idp.example.org:8443/sso/redirect",
                idp_x509_cert="",
                idp_slo_url="https://slo.example.org/slo",
            )
        ]
    )
    policy = _policy(client.get("/admin/login/"))
    assert policy["form-action"] == [
        "'self'",
        "https://idp.example.org:8443",
        "https://login.example.com",
        "https://slo.example.org",
    ]
    assert policy["script-src"] == ["'self'"]


def test_api_docs_start_from_a_script_file(client: Client, db: None):
    client.force_login(make_staff("docs-csp"))
    html = client.get(reverse("api-docs")).content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert len(scripts) == 3, scripts
    assert not INLINE_SCRIPT.search(html)
    start = re.search(r'<script src="([^"]*script=[^"]*)"', html)
    assert start, html
    script = client.get(start.group(1).replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_no_template_has_an_inline_script_or_event_handler():
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 20
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)[:80]}"
        for path in templates
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER)
        for match in pattern.finditer(path.read_text())
    ]
    assert not offenders, "\n".join(offenders)


def test_the_template_scan_catches_what_it_looks_for():
    assert INLINE_SCRIPT.search("<p>x</p><script>alert(1)</script>")
    assert INLINE_SCRIPT.search('<script type="text/javascript">go()</script>')
    assert not INLINE_SCRIPT.search('<script src="/static/admin/js/core.js"></script>')
    assert not INLINE_SCRIPT.search('<script type="application/json" id="d">{}</script>')
    assert EVENT_HANDLER.search('<a href="#" onclick="go()">')
    assert EVENT_HANDLER.search("<body\n  onload='go()'>")
    assert not EVENT_HANDLER.search('<a href="#" data-once="x">one</a>')

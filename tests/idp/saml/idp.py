"""A SAML 2.0 identity provider for tests, built on pysaml2's ``saml2.server.Server``.

It runs as a small WSGI app on 127.0.0.1 in a thread. AuthnRequests arrive with the
HTTP-Redirect binding; the IdP shows a login form (user/password) and answers with an auto-POST
form (HTTP-POST binding) whose Response carries an assertion signed with a self-signed key made
at start-up (python ``xmlsec`` binding: there is no ``xmlsec1`` binary here).

Single logout (HTTP-Redirect binding at ``slo_url``): a LogoutRequest from the SP is recorded in
``logouts`` and answered with a LogoutResponse to the SP's SLS; ``logout_request_url`` builds an
IdP-initiated LogoutRequest for a login it issued (``issued``).

``mode`` makes it misbehave on purpose: ``unsigned`` (no signature), ``tamper_groups`` and
``tamper_nameid`` (the signed assertion changed afterwards), ``wrong_audience`` (issued for
another SP entity id), ``unsolicited`` (answers no request: IdP-initiated).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree  # type: ignore[import-untyped]
from saml2 import BINDING_HTTP_REDIRECT  # type: ignore[import-untyped]
from saml2.config import IdPConfig  # type: ignore[import-untyped]
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID  # type: ignore[import-untyped]
from saml2.server import Server  # type: ignore[import-untyped]

PASSWORD = "pw-saml-idp-tests"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
OTHER_SP_ENTITY_ID = "https://another-sp.example.test/saml"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def self_signed(common_name: str) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM), RSA 2048, valid for a day."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def sign_assertion(response_xml: str, key_pem: bytes, cert_pem: bytes) -> str:
    """The Response with its Assertion signed (enveloped, exclusive c14n, RSA-SHA256)."""
    root = etree.fromstring(response_xml.encode())
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    assert assertion is not None
    xmlsec.tree.add_ids(assertion, ["ID"])
    signature = xmlsec.template.create(
        assertion, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    issuer = assertion.find(f"{{{SAML_NS}}}Issuer")
    assert issuer is not None
    issuer.addnext(signature)
    ref = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri="#" + assertion.get("ID", "")
    )
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.add_x509_data(key_info)
    ctx = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(cert_pem, xmlsec.constants.KeyDataFormatPem)
    ctx.key = key
    ctx.sign(signature)
    return etree.tostring(root).decode()


@dataclass
class SamlIdp:
    workdir: Path
    host: str = "127.0.0.1"
    entity_id: str = ""
    sso_url: str = ""
    cert_pem: str = ""
    # login -> groups
    accounts: dict[str, list[str]] = field(default_factory=dict)
    mode: str = "normal"
    slo_url: str = ""
    # login -> {"name_id", "session_index"} of the last assertion issued for it
    issued: dict[str, dict[str, str]] = field(default_factory=dict)
    # LogoutRequests received: {"name_id", "session_indexes", "issuer"}
    logouts: list[dict[str, Any]] = field(default_factory=list)
    _key_pem: bytes = b""
    _server: Server | None = None
    _sp_metadata: str = ""
    _httpd: WSGIServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        key_pem, cert_pem = self_signed("switchboard-test-idp")
        self._key_pem, self.cert_pem = key_pem, cert_pem.decode()
        (self.workdir / "idp.key").write_bytes(key_pem)
        (self.workdir / "idp.crt").write_bytes(cert_pem)

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = make_server(self.host, 0, self, handler_class=QuietHandler)
        port = self._httpd.server_port
        self.entity_id = f"http://{self.host}:{port}/idp/metadata"
        self.sso_url = f"http://{self.host}:{port}/idp/sso/redirect"
        self.slo_url = f"http://{self.host}:{port}/idp/slo/redirect"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def trust_sp(self, sp_metadata_xml: str) -> None:
        """Load the SP's metadata (its entity id and ACS) into a fresh pysaml2 Server."""
        self._sp_metadata = sp_metadata_xml
        metadata_file = self.workdir / "sp-metadata.xml"
        metadata_file.write_text(sp_metadata_xml)
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "crypto_backend": "XMLSecurity",
                "key_file": str(self.workdir / "idp.key"),
                "cert_file": str(self.workdir / "idp.crt"),
                "metadata": {"local": [str(metadata_file)]},
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)],
                            "single_logout_service": [(self.slo_url, BINDING_HTTP_REDIRECT)],
                        },
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "policy": {"default": {"lifetime": {"minutes": 5}}},
                        "want_authn_requests_signed": False,
                    }
                },
            }
        )
        self._server = Server(config=config)

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/idp/sso/redirect" and environ["REQUEST_METHOD"] == "GET":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            return self._login_form(start_response, query, error="")
        if path == "/idp/sso/redirect" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            return self._authenticate(start_response, form)
        if path == "/idp/slo/redirect" and environ["REQUEST_METHOD"] == "GET":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            return self._single_logout(start_response, query)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    def _single_logout(self, start_response: StartResponse, query: dict[str, str]) -> list[bytes]:
        """A LogoutRequest from the SP: record it, answer with a LogoutResponse to its SLS. A
        LogoutResponse (to an IdP-initiated logout): a page saying so."""
        assert self._server is not None, "call trust_sp() first"
        if "SAMLResponse" in query:
            return self._html(start_response, "200 OK", "<p id='idp-logout-done'>Signed out</p>")
        parsed = self._server.parse_logout_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
        request = parsed.message
        self.logouts.append(
            {
                "name_id": request.name_id.text,
                "session_indexes": [si.text for si in request.session_index],
                "issuer": request.issuer.text,
            }
        )
        response = self._server.create_logout_response(request, [BINDING_HTTP_REDIRECT])
        http_args = self._server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(response),
            response.destination,
            relay_state=query.get("RelayState", ""),
            response=True,
            sign=False,
        )
        location = dict(http_args["headers"])["Location"]
        start_response("302 Found", [("Location", location)])
        return [b""]

    def logout_request_url(self, login: str, sp_sls_url: str, sp_entity_id: str) -> str:
        """An IdP-initiated LogoutRequest (HTTP-Redirect) for ``login``'s last assertion."""
        assert self._server is not None, "call trust_sp() first"
        issued = self.issued[login]
        _, request = self._server.create_logout_request(
            destination=sp_sls_url,
            issuer_entity_id=sp_entity_id,
            name_id=NameID(
                text=issued["name_id"], format=NAMEID_FORMAT_PERSISTENT, sp_name_qualifier=None
            ),
            session_indexes=[issued["session_index"]],
            sign=False,
        )
        http_args = self._server.apply_binding(
            BINDING_HTTP_REDIRECT, str(request), sp_sls_url, relay_state="", sign=False
        )
        return str(dict(http_args["headers"])["Location"])

    def _html(self, start_response: StartResponse, status: str, body: str) -> list[bytes]:
        start_response(status, [("Content-Type", "text/html; charset=utf-8")])
        return [body.encode()]

    def _login_form(
        self, start_response: StartResponse, query: dict[str, str], *, error: str
    ) -> list[bytes]:
        if "SAMLRequest" not in query:
            return self._html(start_response, "400 Bad Request", "<p>no SAMLRequest</p>")
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(query[name])}">'
            for name in ("SAMLRequest", "RelayState")
            if name in query
        )
        body = (
            "<html><body><h1>Test IdP sign-in</h1>"
            f"<p class='error'>{html.escape(error)}</p>"
            f'<form method="post" action="{self.sso_url}" id="login">{hidden}'
            '<input name="username"><input name="password" type="password">'
            '<input type="submit" value="Sign in"></form></body></html>'
        )
        return self._html(start_response, "200 OK", body)

    def _authenticate(self, start_response: StartResponse, form: dict[str, str]) -> list[bytes]:
        login = form.get("username", "")
        if login not in self.accounts or form.get("password") != PASSWORD:
            return self._login_form(start_response, form, error="Wrong username or password")
        assert self._server is not None, "call trust_sp() first"
        parsed = self._server.parse_authn_request(form["SAMLRequest"], BINDING_HTTP_REDIRECT)
        request = parsed.message
        sp_entity_id = request.issuer.text
        acs_url = request.assertion_consumer_service_url
        identity = {
            "uid": [login],
            "mail": [f"{login}@idp.switchboard.test"],
            "givenName": [login.capitalize()],
            "sn": ["Person"],
            "groups": list(self.accounts[login]),
        }
        response = self._server.create_authn_response(
            identity,
            in_response_to=None if self.mode == "unsolicited" else request.id,
            destination=acs_url,
            sp_entity_id=sp_entity_id,
            userid=login,
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            },
            sign_response=False,
            sign_assertion=False,
        )
        xml = str(response)
        statement = etree.fromstring(xml.encode()).find(f".//{{{SAML_NS}}}AuthnStatement")
        self.issued[login] = {
            "name_id": self._nameid(xml),
            "session_index": statement.get("SessionIndex", "") if statement is not None else "",
        }
        if self.mode == "wrong_audience":
            # issued (and then signed) for another SP
            root = etree.fromstring(xml.encode())
            for node in root.iter(f"{{{SAML_NS}}}Audience"):
                node.text = OTHER_SP_ENTITY_ID
            xml = etree.tostring(root).decode()
        if self.mode != "unsigned":
            xml = sign_assertion(xml, self._key_pem, self.cert_pem.encode())
        if self.mode == "tamper_groups":
            xml = xml.replace(">some-other-app<", ">switchboard-admin<")
            assert ">switchboard-admin<" in xml
        elif self.mode == "tamper_nameid":
            xml = xml.replace(f">{self._nameid(xml)}<", ">attacker-chosen-id<")
        saml_response = base64.b64encode(xml.encode()).decode()
        relay = form.get("RelayState", "")
        body = (
            "<html><body onload='document.forms[0].submit()'>"
            f'<form method="post" action="{html.escape(acs_url)}" id="saml-post">'
            f'<input type="hidden" name="SAMLResponse" value="{saml_response}">'
            f'<input type="hidden" name="RelayState" value="{html.escape(relay)}">'
            '<input type="submit" value="Continue"></form></body></html>'
        )
        return self._html(start_response, "200 OK", body)

    @staticmethod
    def _nameid(xml: str) -> str:
        node = etree.fromstring(xml.encode()).find(f".//{{{SAML_NS}}}NameID")
        assert node is not None and node.text
        return node.text


__all__ = ["OTHER_SP_ENTITY_ID", "PASSWORD", "SamlIdp", "self_signed", "sign_assertion"]

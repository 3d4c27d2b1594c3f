"""The loopback server helpers live with the fake providers the demo also runs."""

from config.fake_providers.loopback import (
    Responder,
    Seen,
    json_api_handler,
    loopback_session,
    serve_on_loopback,
)

__all__ = ["Responder", "Seen", "json_api_handler", "loopback_session", "serve_on_loopback"]

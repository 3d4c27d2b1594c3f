"""The loopback server helper lives with the fake providers the demo also runs."""

from config.fake_providers.loopback import serve_on_loopback

__all__ = ["serve_on_loopback"]

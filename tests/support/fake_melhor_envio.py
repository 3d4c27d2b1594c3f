"""The fake Melhor Envio server lives in ``config/fake_providers/melhor_envio.py``, because the
demo runs it too; the tests import it from here as before."""

from config.fake_providers.melhor_envio import (
    CLIENT_ID,
    CLIENT_SECRET,
    FIRST_REFRESH_TOKEN,
    FakeMelhorEnvio,
    Seen,
    WebhookSent,
    me_time,
    serve_fake_melhor_envio,
    sign,
)

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "FIRST_REFRESH_TOKEN",
    "FakeMelhorEnvio",
    "Seen",
    "WebhookSent",
    "me_time",
    "serve_fake_melhor_envio",
    "sign",
]

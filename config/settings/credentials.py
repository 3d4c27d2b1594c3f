"""Keys for the provider credentials stored in the database (integrations/credentials.py).

``CREDENTIALS_KEYS``: comma-separated Fernet keys; the first encrypts, every one decrypts. To
rotate, put a new key first, run ``manage.py rotate_credentials``, then drop the old one. Make a
key with ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``.
A provider that stores credentials (Melhor Envio) refuses to start without them."""

from config.settings.env import env

CREDENTIALS_KEYS: list[str] = env.list("CREDENTIALS_KEYS", default=[])

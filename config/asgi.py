import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_asgi_application()

# As config/wsgi.py: refuse to serve with provider settings the system checks refuse.
from integrations.checks import refuse_to_start_on_provider_errors  # noqa: E402

refuse_to_start_on_provider_errors()

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()

# gunicorn runs no management command, so no system check: refuse here to serve with provider
# settings the checks refuse (manage.py check prints the same messages).
from integrations.checks import refuse_to_start_on_provider_errors  # noqa: E402

refuse_to_start_on_provider_errors()

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from integrations.webhooks.views import webhook_receive

app_name = "webhooks"


@csrf_exempt
def email_webhook_receive(request: HttpRequest, esp: str) -> JsonResponse:
    """``/webhooks/email/<esp>/``: the e-mail provider's endpoint named ``email-<esp>``."""
    return webhook_receive(request, provider=f"email-{esp}")


urlpatterns: list[URLPattern] = [
    path("email/<str:esp>/", email_webhook_receive, name="receive-email"),
    path("<str:provider>/", webhook_receive, name="receive"),
    # Providers that sign nothing and authenticate by a secret in the URL they are given (Z-API).
    path("<str:provider>/<str:url_token>/", webhook_receive, name="receive_with_token"),
]

from django.urls import URLPattern, path

from integrations.webhooks.views import webhook_receive

app_name = "webhooks"

urlpatterns: list[URLPattern] = [
    path("<str:provider>/", webhook_receive, name="receive"),
    # Providers that sign nothing and authenticate by a secret in the URL they are given (Z-API).
    path("<str:provider>/<str:url_token>/", webhook_receive, name="receive_with_token"),
]

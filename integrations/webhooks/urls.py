from django.urls import URLPattern, path

from integrations.webhooks.views import webhook_receive

app_name = "webhooks"

urlpatterns: list[URLPattern] = [
    path("<str:provider>/", webhook_receive, name="receive"),
]

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.views import sso_no_access
from integrations.views import health

admin.site.site_header = "Switchboard"
admin.site.site_title = "Switchboard"
admin.site.index_title = "Back-office"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("sso/no-access/", sso_no_access, name="sso-no-access"),
    path("webhooks/", include("integrations.webhooks.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]

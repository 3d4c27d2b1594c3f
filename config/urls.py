from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from django.views.decorators.cache import never_cache
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.access.auth import admin_login
from accounts.access.reauth import reauth_sso_view, reauth_view
from accounts.access.views import account_logout, admin_logout, sso_no_access, sso_signed_out
from integrations.metrics import metrics_view
from integrations.views import health

urlpatterns = [
    # First: providers' deliveries are the busiest route, and Django tries patterns in order.
    path("webhooks/", include("integrations.webhooks.urls")),
    path("admin/reauth/", admin.site.admin_view(reauth_view), name="reauth"),
    path("admin/reauth/sso/", admin.site.admin_view(reauth_sso_view), name="reauth-sso"),
    # Password login: Django's form, or allauth's with a TOTP step when MFA is required.
    path("admin/login/", admin_login),
    # Logouts end an SSO session at the IdP too (OIDC end-session, SAML single logout).
    path("admin/logout/", never_cache(admin_logout)),
    path("admin/", admin.site.urls),
    path("accounts/logout/", never_cache(account_logout)),
    path("accounts/", include("allauth.urls")),
    path("health/", health, name="health"),
    # Prometheus scrapes here with METRICS_TOKEN as a bearer token (docs/metrics.md).
    path("metrics", metrics_view, name="metrics"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("sso/no-access/", sso_no_access, name="sso-no-access"),
    path("sso/signed-out/", sso_signed_out, name="sso-signed-out"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI for staff, its assets served from our static files (drf-spectacular-sidecar);
    # the split view serves its start-up script as a file too (?script), as the CSP requires.
    path(
        "api/docs/",
        staff_member_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]

# An unmatched /api/ URL answers a problem document, as every API error does.
handler404 = "integrations.api_errors.api_aware_page_not_found"

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from integrations.health import health_report


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database_ok, report = health_report()
    return JsonResponse(report, status=200 if database_ok else 503)

"""One answer for every API error: a problem document (RFC 9457) with a stable ``code``.

``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` points here. A domain refusal or provider failure
(``SwitchboardError``) answers with its class's ``http_status``, ``title`` and ``code``; DRF's own
errors (validation, authentication, permission, not found, throttling) keep their status and
headers and get the same shape, their code being DRF's (``invalid``, ``not_authenticated``,
``permission_denied``, ``not_found``, ``throttled``, ...)::

    HTTP/1.1 400 Bad Request
    Content-Type: application/problem+json

    {"type": "tag:switchboard,2025:problem:discount_exceeds_order",
     "title": "Discount larger than the order", "status": 400,
     "detail": "The discount is larger than the order.", "code": "discount_exceeds_order"}

A validation error adds ``errors``: DRF's messages by field, as DRF gives them. Clients branch on
``code`` (or ``type``, which carries it); ``title`` and ``detail`` are for people and may change.
Anything else is not handled here: Django answers 500 and the error is logged.
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from integrations.exceptions import ProviderUnavailable, SwitchboardError

log = structlog.get_logger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "tag:switchboard,2025:problem:"
"""A problem's ``type`` is this plus its code: a tag URI (RFC 4151), an identifier that is not
meant to be fetched, as RFC 9457 allows."""
VALIDATION_TITLE = "Invalid request"


ProblemSerializer = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.CharField(help_text="The problem type: a tag URI ending in the code."),
        "title": serializers.CharField(help_text="A short summary of the problem type."),
        "status": serializers.IntegerField(help_text="The HTTP status code."),
        "detail": serializers.CharField(help_text="What went wrong this time, for people."),
        "code": serializers.CharField(help_text="Stable machine code: discount_exceeds_order, ..."),
        "errors": serializers.JSONField(
            required=False, help_text="Validation errors only: messages by field, as DRF has them."
        ),
    },
)
"""The error answer's shape, for the OpenAPI schema (``OpenApiResponse(ProblemSerializer)``)."""


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The problem answer for ``exc``, or None for an exception the API does not expect (500)."""
    if isinstance(exc, SwitchboardError):
        return _switchboard_problem(exc, context)
    if isinstance(exc, DjangoValidationError):  # a model's or validator's refusal in a view
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)  # keeps WWW-Authenticate and Retry-After
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    response.data = _drf_problem(exc, response.status_code)
    return _as_problem(response, context)


def problem(
    *, code: str, status: int, title: str, detail: str, **extensions: Any
) -> dict[str, Any]:
    """A problem document: RFC 9457's members plus ``code`` and any ``extensions``."""
    return {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extensions,
    }


def _switchboard_problem(exc: SwitchboardError, context: dict[str, Any]) -> Response:
    status = exc.http_status
    if status >= 500:
        log.warning("api.problem", code=exc.code, status=status, error=type(exc).__name__)
    headers = {}
    if isinstance(exc, ProviderUnavailable) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    set_rollback()
    body = problem(code=exc.code, status=status, title=exc.title, detail=str(exc) or exc.title)
    return _as_problem(Response(body, status=status, headers=headers), context)


def _drf_problem(exc: exceptions.APIException, status: int) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        return problem(
            code=exceptions.ValidationError.default_code,
            status=status,
            title=VALIDATION_TITLE,
            detail=_first_message(exc.detail) or str(exceptions.ValidationError.default_detail),
            errors=exc.detail,
        )
    title = HTTPStatus(status).phrase
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else str(exc.default_code)
    if isinstance(exc.detail, list | dict):
        return problem(code=code, status=status, title=title, detail=title, errors=exc.detail)
    return problem(code=code, status=status, title=title, detail=str(exc.detail))


def _first_message(detail: Any, path: str = "") -> str:
    """The first message of a DRF error structure, with the field it is about
    (``customer.email: Enter a valid email address.``)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = "" if key == "non_field_errors" else str(key)
            message = _first_message(value, f"{path}.{field}" if path and field else path or field)
            if message:
                return message
        return ""
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            nested = isinstance(item, dict | list)
            message = _first_message(item, f"{path}.{index}" if nested and path else path)
            if message:
                return message
        return ""
    return f"{path}: {detail}" if path else str(detail)


def _as_problem(response: Response, context: dict[str, Any]) -> Response:
    """Label a JSON answer ``application/problem+json``; a browsable-API (HTML) answer keeps its
    renderer's type."""
    request = context.get("request")
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is None or getattr(renderer, "format", "") == "json":
        response.content_type = PROBLEM_CONTENT_TYPE
    return response


def api_aware_page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: a URL under ``/api/`` that matches no route (``/api/v1/orders/x/y/``, a
    non-numeric id) answers a problem document like every other API 404; elsewhere Django's
    page."""
    if request.path.startswith("/api/"):
        body = problem(
            code=str(exceptions.NotFound.default_code),
            status=404,
            title=HTTPStatus.NOT_FOUND.phrase,
            detail="No API endpoint at this URL.",
        )
        return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
    return page_not_found(request, exception)

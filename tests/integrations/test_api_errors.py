"""The API's one exception handler (``integrations.api_errors``), through DRF's real dispatch:
small views that raise, answered by the handler the settings name."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from integrations.api_errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX
from integrations.exceptions import CircuitOpen, InvalidTransition, ProviderUnavailable
from payments.exceptions import SelfApprovalForbidden


class Raising(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    error: Exception = RuntimeError("set per test")

    def get(self, request: Request) -> Response:
        raise self.error


def _get(error: Exception, **headers: Any) -> Response:
    view = Raising.as_view(error=error)
    response = view(APIRequestFactory().get("/api/v1/anything/", **headers))
    response.render()
    return response


def test_the_settings_name_the_handler(settings: Any) -> None:
    assert (
        settings.REST_FRAMEWORK["EXCEPTION_HANDLER"]
        == "integrations.api_errors.problem_exception_handler"
    )


def test_a_domain_refusal_answers_a_problem_with_its_code() -> None:
    response = _get(InvalidTransition(entity="Refund #7", current="approved", target="requested"))

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.data == {
        "type": f"{PROBLEM_TYPE_PREFIX}invalid_transition",
        "title": "Status change not allowed",
        "status": 409,
        "detail": "Refund #7 cannot go from 'approved' to 'requested'.",
        "code": "invalid_transition",
    }


def test_a_subclass_answers_with_its_own_status_and_code() -> None:
    response = _get(SelfApprovalForbidden("Nobody approves or rejects their own refund request."))

    assert response.status_code == response.data["status"] == 403
    assert response.data["code"] == "self_approval_forbidden"


def test_a_provider_outage_is_a_503_with_retry_after_rounded_up() -> None:
    response = _get(ProviderUnavailable("stripe: timed out", provider="stripe", retry_after=2.2))

    assert response.status_code == 503
    assert response["Retry-After"] == "3"
    assert response.data["code"] == "provider_unavailable"

    response = _get(CircuitOpen("stripe: circuit open", provider="stripe"))
    assert response.status_code == 503
    assert response.data["code"] == "circuit_open"
    assert not response.has_header("Retry-After")


def test_a_django_validation_error_in_a_view_is_a_400_not_a_500() -> None:
    response = _get(DjangoValidationError("This e-mail is taken.", code="duplicate_customer"))

    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert response.data["detail"] == "This e-mail is taken."
    assert response.data["errors"] == {"non_field_errors": ["This e-mail is taken."]}


def test_django_404_and_permission_denied_get_drf_codes() -> None:
    missing = _get(Http404("No such order."))
    denied = _get(PermissionDenied("Not yours."))

    assert (missing.status_code, missing.data["code"]) == (404, "not_found")
    assert (denied.status_code, denied.data["code"]) == (403, "permission_denied")
    assert denied.data["detail"] == "Not yours."
    assert denied["Content-Type"] == PROBLEM_CONTENT_TYPE


def test_an_unexpected_error_is_not_swallowed() -> None:
    with pytest.raises(RuntimeError, match="a bug"):
        _get(RuntimeError("a bug"))


def test_the_browsable_api_keeps_its_html() -> None:
    response = _get(InvalidTransition(entity="x", current="a", target="b"), HTTP_ACCEPT="text/html")

    assert response.status_code == 409
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/api/v1/shipping/quotes/%C3%80/choose/", "/api/v1/customers/x/context/", "/api/v9/"]
)
def test_an_api_url_that_matches_no_route_answers_a_problem_document(client: Any, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_a_page_outside_the_api_that_matches_no_route_is_still_djangos_page(client: Any) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")

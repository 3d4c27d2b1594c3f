"""``POST /api/v1/usage/``: the product sends batches of usage events (scope ``usage:write``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access.api_keys import HasScope, api_client_identity
from integrations.api_errors import PROBLEM_CONTENT_TYPE, ProblemSerializer
from usage.exceptions import UsageBatchMalformed, UsageBatchTooLarge, UsageBatchTooManyEvents
from usage.serializers import UsageBatchResultSerializer, UsageBatchSerializer
from usage.services import ACCEPTED, DUPLICATE, MAX_BATCH, QUARANTINED, usage_events_ingest

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_ID_LENGTH = 128


def _legacy_event(body: Mapping[str, Any]) -> dict[str, Any]:
    """The single-event body from before batches (``customer_email``, ``name``, optional
    ``properties`` and ``occurred_at``) as one event of a batch. It has no id of its own, so
    each call is a new event: retries of it are not deduplicated (send batches for that)."""
    email, name = body.get("customer_email"), body.get("name")
    if not isinstance(email, str) or not isinstance(name, str):
        raise UsageBatchMalformed(
            'Send {"events": [...]} (or the older single event: customer_email and name).'
        )
    return {
        "id": f"legacy-{uuid.uuid4().hex}",
        "customer": {"email": email},
        "event": name,
        "timestamp": body.get("occurred_at") or timezone.now().isoformat(),
        "properties": body.get("properties") or {},
    }


def _events_of(body: Any) -> list[Mapping[str, Any]]:
    """The batch's events, or UsageBatchMalformed saying what is wrong (nothing is stored)."""
    if isinstance(body, Mapping) and "events" not in body and "customer_email" in body:
        return [_legacy_event(body)]
    if not isinstance(body, Mapping) or "events" not in body:
        raise UsageBatchMalformed('The body must be a JSON object: {"events": [...]}.')
    events = body["events"]
    if not isinstance(events, list):
        raise UsageBatchMalformed('"events" must be a list.')
    if not events:
        raise UsageBatchMalformed('"events" is empty: send at least one event.')
    if len(events) > MAX_BATCH:
        raise UsageBatchTooManyEvents(
            f"{len(events)} events in one batch; send at most {MAX_BATCH} per request."
        )
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise UsageBatchMalformed(f"events[{index}] must be an object.")
        event_id = event.get("id")
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            event_id = str(event_id)
        if (
            not isinstance(event_id, str)
            or not 1 <= len(event_id) <= MAX_ID_LENGTH
            or not event_id.isprintable()
        ):
            raise UsageBatchMalformed(
                f"events[{index}].id must be a string of 1 to {MAX_ID_LENGTH} printable "
                "characters: the event's own id, which makes a retry safe."
            )
        if event_id != event.get("id"):
            events[index] = {**event, "id": event_id}
    return events


class UsageEventBatchCreate(APIView):
    """POST a batch of up to 1,000 usage events; answers 202 with a result per event.

    Each event: ``{"id", "customer": {"email" | "external_id" | "id"}, "event", "timestamp",
    "properties"}``. ``accepted``: stored, counted into the customer's usage and on the
    timeline. ``duplicate``: this API client sent this id before (or earlier in the batch),
    nothing written: a retried batch counts once. ``quarantined``: kept with the ``reason`` (an
    event or customer we do not know, a property of the wrong type...); staff release it from
    the admin once the tracking plan allows it. 400 for a batch that is not a list, is empty,
    has more than 1,000 events or an event without an id; nothing is stored then.

    The older single-event body (``customer_email``, ``name``, ``properties``,
    ``occurred_at``) is still taken as a batch of one, without deduplication.
    """

    permission_classes = [HasScope]
    required_scope = "usage:write"

    @extend_schema(
        request=UsageBatchSerializer,
        responses={
            202: UsageBatchResultSerializer,
            (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="Malformed batch; nothing stored."
            ),
            (413, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="Body larger than 5 MiB."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            raise UsageBatchTooLarge(f"Send at most {MAX_BODY_BYTES} bytes per request.")
        try:
            body = request.data
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
        events = _events_of(body)
        results = usage_events_ingest(source=api_client_identity(request) or "", events=events)
        counts = {ACCEPTED: 0, DUPLICATE: 0, QUARANTINED: 0}
        answer = []
        for result in results:
            counts[result.status] += 1
            item = {"id": result.id, "status": result.status}
            if result.reason:
                item["reason"] = result.reason
            answer.append(item)
        return Response(
            {
                "accepted": counts[ACCEPTED],
                "duplicates": counts[DUPLICATE],
                "quarantined": counts[QUARANTINED],
                "results": answer,
            },
            status=status.HTTP_202_ACCEPTED,
        )

"""The only module that touches the ``easypost`` SDK.

The SDK builds requests and reads answers; the transport is ours. ``EasyPostClient`` sends every
call through ``self._requests_session.request(method=, url=, params=, headers=, json=, timeout=,
verify=)`` (``easypost/requestor.py``); ``LedgerSession`` stands in for that session and hands
each call to ``integrations.outbound.client.ProviderClient`` (timeouts, retries with backoff on
timeouts, 429 and 5xx, the circuit breaker, one ``ProviderCall`` row per attempt, the API key
scrubbed). The SDK's own transport (a ``requests`` session with ``max_retries=3``) is never used.

EasyPost takes no idempotency key, so a POST that timed out or met a 5xx is not sent again by
the client (it may have been applied); the adapter re-reads the shipment instead.

SDK objects never leave this module: callers get the frozen dataclasses below, and SDK errors are
mapped to ``ProviderUnavailable`` (retry later) or ``ProviderRejected`` (terminal). The parsers
(``shipment_from``, ``tracker_from``) also read webhook payloads, which have the API's shape.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import easypost
import requests
from django.conf import settings
from django.db import models
from easypost.errors import ApiError, EasyPostError

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.outbound.client import ProviderClient
from shipping.carriers.easypost.tracking import location_text, parse_ep_time

PROVIDER = "easypost"


@dataclass(frozen=True)
class EasyPostRate:
    id: str
    carrier: str
    service: str
    amount: Decimal
    """EasyPost's decimal string (``"51.20"``), as a Decimal."""
    currency: str
    delivery_days: int | None = None


@dataclass(frozen=True)
class EasyPostScan:
    """One ``TrackingDetail``."""

    status: str
    status_detail: str
    occurred_at: datetime | None
    message: str = ""
    location: str = ""


@dataclass(frozen=True)
class EasyPostTracker:
    id: str
    tracking_code: str
    status: str
    status_detail: str
    shipment_id: str = ""
    carrier: str = ""
    updated_at: datetime | None = None
    scans: tuple[EasyPostScan, ...] = ()


@dataclass(frozen=True)
class EasyPostShipment:
    id: str
    reference: str
    rates: tuple[EasyPostRate, ...] = ()
    selected_rate: EasyPostRate | None = None
    tracking_code: str = ""
    label_url: str = ""
    refund_status: str = ""
    """``""``, ``submitted``, ``refunded`` or ``rejected``."""
    tracker: EasyPostTracker | None = field(default=None, compare=False)

    @property
    def bought(self) -> bool:
        return bool(self.label_url or self.selected_rate or self.tracking_code)


@dataclass
class _CallContext:
    operation: str
    subject: models.Model | None
    error: Exception | None = None
    """What our transport raised; the SDK wraps it in its HttpError, ``_call`` unwraps it."""


_CONTEXT: contextvars.ContextVar[_CallContext | None] = contextvars.ContextVar(
    "easypost_call_context", default=None
)


class LedgerSession:
    """The session the SDK sends with, sending through ``ProviderClient``. A 4xx answer is handed
    back to the SDK so it raises its typed error (``InvalidRequestError`` for a 422...);
    ``ProviderUnavailable`` (timeouts, 429 or 5xx after our retries, circuit open) is kept on the
    call's context and raised again once the SDK has wrapped it."""

    def __init__(self, provider_client: ProviderClient) -> None:
        self._client = provider_client

    def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        **_ignored: Any,  # timeout, verify: ProviderClient applies its own
    ) -> requests.Response:
        context = _CONTEXT.get() or _CallContext(
            operation=f"{method.lower()}_request", subject=None
        )
        base = self._client.base_url
        try:
            if not url.startswith(f"{base}/"):
                raise ProviderRejected(
                    "The EasyPost SDK built a URL outside EASYPOST_API_BASE.", provider=PROVIDER
                )
            return self._client.request(
                context.operation,
                method.upper(),
                url[len(base) :],
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=headers,
                subject=context.subject,
            )
        except ProviderRejected as exc:
            if exc.response is not None:
                return exc.response
            context.error = exc
            raise
        except (ProviderUnavailable, RuntimeError) as exc:
            context.error = exc
            raise

    def close(self) -> None:
        self._client.session.close()


def _rejected(operation: str, exc: ApiError) -> ProviderRejected:
    # EasyPost's error code only; its message may echo addresses.
    return ProviderRejected(
        f"easypost {operation}: {exc.code or type(exc).__name__} (HTTP {exc.http_status})",
        provider=PROVIDER,
        operation=operation,
        status_code=int(exc.http_status or 0),
    )


class EasyPostGateway:
    """Typed calls to the EasyPost API through the SDK, one ``EasyPostClient`` per gateway.
    Settings are read when the gateway is built (the adapter builds one per call)."""

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str,
        session: requests.Session | None = None,
        sleep: Any = None,
    ) -> None:
        if not api_key:
            raise ProviderRejected(
                "easypost: EASYPOST_API_KEY is not configured.", provider=PROVIDER
            )
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self._provider_client = ProviderClient(
            PROVIDER,
            api_base,
            secret_values=(api_key,),
            session=session,
            **extra,
        )
        self._client = easypost.EasyPostClient(api_key, api_base=api_base.rstrip("/"))
        # The SDK has no public transport hook; this attribute is the one it sends through.
        self._client._requests_session = LedgerSession(self._provider_client)  # type: ignore[assignment]

    @classmethod
    def from_settings(
        cls, *, session: requests.Session | None = None, sleep: Any = None
    ) -> EasyPostGateway:
        return cls(
            api_key=settings.EASYPOST_API_KEY,
            api_base=settings.EASYPOST_API_BASE,
            session=session,
            sleep=sleep,
        )

    @contextmanager
    def _call(self, operation: str, subject: models.Model | None) -> Iterator[None]:
        context = _CallContext(operation=operation, subject=subject)
        token = _CONTEXT.set(context)
        try:
            yield
        except ApiError as exc:
            if context.error is not None:
                raise context.error from None
            status = int(exc.http_status or 0)
            if status == 0 or status == 408 or status == 429 or status >= 500:
                raise ProviderUnavailable(
                    f"easypost {operation}: {type(exc).__name__} (HTTP {status})",
                    provider=PROVIDER,
                    operation=operation,
                    status_code=status or None,
                ) from None
            raise _rejected(operation, exc) from None
        except EasyPostError as exc:
            if context.error is not None:
                raise context.error from None
            raise ProviderUnavailable(
                f"easypost {operation}: {type(exc).__name__}",
                provider=PROVIDER,
                operation=operation,
            ) from None
        finally:
            _CONTEXT.reset(token)

    def create_shipment(
        self,
        *,
        reference: str,
        from_address: Mapping[str, Any],
        to_address: Mapping[str, Any],
        parcel: Mapping[str, Any],
        operation: str = "shipment.create",
        subject: models.Model | None = None,
    ) -> EasyPostShipment:
        """``POST /v2/shipments``: a shipment carrying ``reference``, with its rates."""
        with self._call(operation, subject):
            shipment = self._client.shipment.create(
                reference=reference,
                from_address=dict(from_address),
                to_address=dict(to_address),
                parcel=dict(parcel),
            )
        return shipment_from(shipment.to_dict())

    def retrieve_shipment(
        self, id_or_reference: str, *, subject: models.Model | None = None
    ) -> EasyPostShipment | None:
        """``GET /v2/shipments/{id or reference}`` (EasyPost takes a reference in place of an
        id); None when there is none."""
        try:
            with self._call("shipment.retrieve", subject):
                shipment = self._client.shipment.retrieve(quote(id_or_reference, safe=""))
        except ProviderRejected as exc:
            if exc.status_code == 404:
                return None
            raise
        return shipment_from(shipment.to_dict())

    def buy_shipment(
        self, shipment_id: str, *, rate_id: str, subject: models.Model | None = None
    ) -> EasyPostShipment:
        """``POST /v2/shipments/{id}/buy`` with ``{"rate": {"id": ...}}``: the label."""
        with self._call("label.buy", subject):
            shipment = self._client.shipment.buy(_segment(shipment_id), rate={"id": rate_id})
        return shipment_from(shipment.to_dict())

    def refund_shipment(
        self, shipment_id: str, *, subject: models.Model | None = None
    ) -> EasyPostShipment:
        """``POST /v2/shipments/{id}/refund``: asks for the label's postage back."""
        with self._call("label.refund", subject):
            shipment = self._client.shipment.refund(_segment(shipment_id))
        return shipment_from(shipment.to_dict())

    def find_tracker(self, tracking_code: str) -> EasyPostTracker | None:
        """``GET /v2/trackers?tracking_code=``: the newest tracker for the code, if any."""
        with self._call("tracker.list", None):
            found = self._client.tracker.all(tracking_code=tracking_code, page_size=5)
        trackers = _as_dict(found).get("trackers") or []
        return tracker_from(trackers[0]) if trackers and isinstance(trackers[0], dict) else None

    def create_tracker(self, tracking_code: str, *, carrier: str = "") -> EasyPostTracker:
        """``POST /v2/trackers``; a code EasyPost already tracks answers the same tracker."""
        params = {"tracking_code": tracking_code, **({"carrier": carrier} if carrier else {})}
        with self._call("tracker.create", None):
            tracker = self._client.tracker.create(**params)
        return tracker_from(tracker.to_dict())


def _as_dict(found: Any) -> dict[str, Any]:
    """An SDK answer (``EasyPostObject``, or a dict for list calls) as plain JSON data."""
    data = found.to_dict() if hasattr(found, "to_dict") else found
    return dict(data) if isinstance(data, dict) else {}


def _segment(object_id: str) -> str:
    if not object_id or not all(c.isascii() and (c.isalnum() or c == "_") for c in object_id):
        raise ProviderRejected(f"Not an EasyPost id: {object_id!r}.", provider=PROVIDER)
    return object_id


def _text(value: Any, limit: int = 200) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value)[:limit]


def rate_from(data: Any) -> EasyPostRate | None:
    if not isinstance(data, dict) or not data.get("id"):
        return None
    try:
        amount = Decimal(str(data.get("rate")))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    days = data.get("delivery_days")
    return EasyPostRate(
        id=_text(data["id"], 100),
        carrier=_text(data.get("carrier"), 30),
        service=_text(data.get("service"), 60),
        amount=amount,
        currency=_text(data.get("currency"), 3).upper(),
        delivery_days=days if isinstance(days, int) and not isinstance(days, bool) else None,
    )


def tracker_from(data: Mapping[str, Any]) -> EasyPostTracker:
    """A ``Tracker`` object (API answer or webhook ``result``), scans oldest first."""
    scans = []
    for detail in data.get("tracking_details") or []:
        if not isinstance(detail, dict):
            continue
        scans.append(
            EasyPostScan(
                status=_text(detail.get("status"), 40),
                status_detail=_text(detail.get("status_detail"), 40),
                occurred_at=parse_ep_time(detail.get("datetime")),
                message=_text(detail.get("message") or detail.get("description"), 300),
                location=location_text(detail.get("tracking_location")),
            )
        )
    return EasyPostTracker(
        id=_text(data.get("id"), 100),
        tracking_code=_text(data.get("tracking_code"), 60).strip(),
        status=_text(data.get("status"), 40),
        status_detail=_text(data.get("status_detail"), 40),
        shipment_id=_text(data.get("shipment_id"), 100),
        carrier=_text(data.get("carrier"), 30),
        updated_at=parse_ep_time(data.get("updated_at")),
        scans=tuple(sorted(scans, key=lambda s: (s.occurred_at is None, s.occurred_at))),
    )


def shipment_from(data: Mapping[str, Any]) -> EasyPostShipment:
    postage = data.get("postage_label")
    label: Mapping[str, Any] = postage if isinstance(postage, dict) else {}
    tracker = data.get("tracker")
    return EasyPostShipment(
        id=_text(data.get("id"), 100),
        reference=_text(data.get("reference"), 100),
        rates=tuple(r for r in map(rate_from, data.get("rates") or []) if r is not None),
        selected_rate=rate_from(data.get("selected_rate")),
        tracking_code=_text(data.get("tracking_code"), 60).strip(),
        label_url=_text(label.get("label_pdf_url") or label.get("label_url"), 500),
        refund_status=_text(data.get("refund_status"), 20),
        tracker=tracker_from(tracker) if isinstance(tracker, dict) else None,
    )

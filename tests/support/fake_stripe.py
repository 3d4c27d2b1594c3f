"""A small fake Stripe API on 127.0.0.1, speaking the documented v1 endpoints with form bodies.

* ``POST /v1/payment_intents``, ``POST /v1/payment_intents/{id}/confirm``, ``/cancel``,
  ``/capture``, ``GET /v1/payment_intents/{id}``, ``POST /v1/refunds``,
  ``GET /v1/balance_transactions/{id}``; ``Authorization: Bearer <key>`` checked.
* A paid intent has a Charge (``latest_charge``) and, once captured, the charge's balance
  transaction (``amount``, ``fee`` = ``fee_basis_points`` of it rounded + ``fee_fixed``, ``net``,
  ``fee_details``, ``available_on``, ``currency`` = ``settlement_currency`` or the intent's).
  ``capture_method=manual`` leaves it ``requires_capture`` with ``amount_capturable`` until
  ``/capture`` (optionally ``amount_to_capture``, never more than capturable). ``expand[]`` on a
  GET expands ``latest_charge`` and ``latest_charge.balance_transaction`` as Stripe does; any
  other path is refused (400, as Stripe refuses what cannot be expanded).
* ``/cancel`` refuses, like Stripe, an intent that succeeded, was canceled or is processing
  (400 ``payment_intent_unexpected_state``) and a ``cancellation_reason`` outside the API's enum;
  ``succeed(id)`` is the customer paying out of band, never on a canceled intent.
* ``Idempotency-Key`` like Stripe: the first answer (status and body, 500s included) is stored and
  replayed for the same key; the same key with other parameters -> 400 ``idempotency_error``;
  parameter validation failures are not stored.
* Fault injection per path, consumed one request at a time: ``rate_limit_429``, ``edge_503`` (a load balancer 503,
  nothing executed or stored), ``api_500`` (the API failed: the 500 is stored for the key),
  ``timeout_before`` (hangs, nothing executed), ``timeout_after`` (executed and stored, then hangs
  past the client's read timeout, so the answer is lost).
* Settlement: ``GET /v1/balance_transactions`` (newest first; ``expand[]=data.source`` puts a
  charge line's Charge in ``source``; ``limit`` 1-100, ``starting_after``,
  ``ending_before``, ``created[gte|gt|lte|lt]``, ``payout``, ``type``, ``source``, ``currency``)
  and ``GET /v1/payouts`` (``limit``, ``starting_after``, ``created[...]``, ``status``),
  ``GET /v1/payouts/{id}``; lists are ``{"object": "list", "url", "has_more", "data"}``. Like
  Stripe they refuse a ``limit`` outside 1-100, an unknown parameter, an unknown
  ``starting_after`` object and an unknown payout (400 ``invalid_request_error``). A succeeded
  refund gets its ``refund`` balance transaction (negative amount), ``pay_out()`` sends every
  unpaid-out line to the bank as a payout (with its own ``payout`` balance transaction), and
  ``add_balance_transaction()`` books anything else (fees, adjustments, disputes).
* Disputes and evidence file uploads (on a second server, ``files_url``, as Stripe's
  files.stripe.com): see ``fake_stripe_disputes``.
* Every request is recorded (method, path, headers, decoded form, the host it reached and the
  files of a multipart body).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.fake_stripe_disputes import StripeDisputesMixin
from tests.support.loopback import serve_on_loopback
from tests.support.multipart import Upload, parse_multipart

API_KEY = "sk_test_fake_0123456789abcdefSECRET"
# The cancellation reasons the API accepts (the others are set by Stripe itself).
CANCELLATION_REASONS = frozenset({"abandoned", "duplicate", "fraudulent", "requested_by_customer"})
HANG_SECONDS = 1.5


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    host: str = "api"
    """``api`` or ``files`` (Stripe's upload host)."""
    uploads: dict[str, Upload] = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


@dataclass
class FakeStripe(StripeDisputesMixin):
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, list[str]] = field(default_factory=dict)
    refund_status: str = "succeeded"
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    balance_transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    fee_basis_points: int = 290
    fee_fixed: int = 30
    settlement_currency: str = ""
    payouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    payout_of: dict[str, str] = field(default_factory=dict)
    """balance transaction id -> the payout that paid it out."""
    clock: int = 0
    """When set, the ``created`` of new objects (unix seconds), advanced one second each."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    _stored: dict[str, tuple[str, Answer]] = field(default_factory=dict)
    _seq: int = 0

    def inject(self, path: str, *faults: str) -> None:
        """Faults for the next requests to ``path`` (exact path, e.g. ``/v1/refunds``)."""
        self.faults.setdefault(path, []).extend(faults)

    def requests_to(self, path: str, method: str = "POST") -> list[Seen]:
        return [s for s in self.seen if s.path == path and s.method == method]

    def _now(self) -> int:
        if not self.clock:
            return int(time.time())
        self.clock += 1
        return self.clock

    def add_balance_transaction(
        self,
        type_: str,
        amount: int,
        *,
        fee: int = 0,
        currency: str = "brl",
        source: str | None = None,
        reporting_category: str = "",
    ) -> dict[str, Any]:
        """Book a balance transaction (a fee, an adjustment, a dispute...) as Stripe would."""
        with self.lock:
            created = self._now()
            txn: dict[str, Any] = {
                "id": self._next_id("txn"),
                "object": "balance_transaction",
                "amount": amount,
                "available_on": created + 2 * 86_400,
                "created": created,
                "currency": currency,
                "description": None,
                "exchange_rate": None,
                "fee": fee,
                "fee_details": [],
                "net": amount - fee,
                "reporting_category": reporting_category or type_,
                "source": source,
                "status": "available",
                "type": type_,
            }
            self.balance_transactions[txn["id"]] = txn
            return dict(txn)

    def pay_out(self, *, status: str = "paid") -> dict[str, Any]:
        """Stripe's automatic payout: every balance transaction not yet paid out goes to the
        bank (amount = their net sum) and the payout books its own ``payout`` transaction."""
        with self.lock:
            lines = [t for t in self.balance_transactions.values() if t["id"] not in self.payout_of]
            total = sum(t["net"] for t in lines)
            created = self._now()
            payout_id = self._next_id("po")
            currency = lines[0]["currency"] if lines else "brl"
            txn = self.add_balance_transaction(
                "payout", -total, currency=currency, source=payout_id
            )
            payout: dict[str, Any] = {
                "id": payout_id,
                "object": "payout",
                "amount": total,
                "arrival_date": created + 86_400,
                "automatic": True,
                "balance_transaction": txn["id"],
                "created": created,
                "currency": currency,
                "description": "STRIPE PAYOUT",
                "destination": "ba_fake0001",
                "failure_code": None,
                "livemode": False,
                "metadata": {},
                "method": "standard",
                "reconciliation_status": "completed",
                "source_type": "card",
                "statement_descriptor": None,
                "status": status,
                "type": "bank_account",
            }
            self.payouts[payout_id] = payout
            for line in [*lines, txn]:
                self.payout_of[line["id"]] = payout_id
            return dict(payout)

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}_fake{self._seq:06d}"

    # --- dispatch ------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        form: dict[str, str],
        *,
        host: str = "api",
        uploads: dict[str, Upload] | None = None,
    ) -> tuple[Answer, float]:
        """The answer and how long to hang before sending it."""
        uploads = uploads or {}
        with self.lock:
            self.seen.append(Seen(method, path, headers, form, host, uploads))
            if headers.get("authorization") != f"Bearer {API_KEY}":
                return _error(
                    401, "invalid_request_error", "api_key_invalid", "Invalid API Key provided."
                ), 0
            queue = self.faults.get(path) or []
            fault = queue.pop(0) if queue else ""
            if fault == "edge_503":
                return Answer(
                    503, {"error": {"type": "api_error", "message": "Service unavailable"}}
                ), 0
            if fault == "rate_limit_429":
                return _error(429, "invalid_request_error", "rate_limit", "Too many requests"), 0
            if fault == "timeout_before":
                return Answer(503, {"error": {"type": "api_error"}}), HANG_SECONDS
            key = headers.get("idempotency-key", "") if method == "POST" else ""
            fingerprint = json.dumps(
                [
                    host,
                    path,
                    sorted(form.items()),
                    sorted((k, hashlib.sha256(u.content).hexdigest()) for k, u in uploads.items()),
                ]
            )
            if key and key in self._stored:
                stored_fingerprint, answer = self._stored[key]
                if stored_fingerprint != fingerprint:
                    return _error(
                        400,
                        "idempotency_error",
                        "idempotency_key_in_use",
                        "Keys for idempotent requests can only be used with the same parameters.",
                    ), 0
                return answer, HANG_SECONDS if fault == "timeout_after" else 0
            if fault == "api_500":
                answer = _error(500, "api_error", "", "An unknown error occurred")
            else:
                answer, validation_failed = self._route(method, path, form, host, uploads)
                if validation_failed:
                    return answer, 0
            if key:
                self._stored[key] = (fingerprint, answer)
            return answer, HANG_SECONDS if fault == "timeout_after" else 0

    def _route(
        self,
        method: str,
        path: str,
        form: dict[str, str],
        host: str = "api",
        uploads: dict[str, Upload] | None = None,
    ) -> tuple[Answer, bool]:
        parts = path.strip("/").split("/")
        if host == "files":
            answer: tuple[Answer, bool] = self._files_route(method, parts, form, uploads or {})
            return answer
        disputes = self._dispute_route(method, parts, form, uploads or {})
        if disputes is not None:
            return disputes
        if method == "POST" and parts == ["v1", "payment_intents"]:
            return self._create_intent(form)
        if len(parts) >= 3 and parts[:2] == ["v1", "payment_intents"]:
            intent = self.intents.get(parts[2])
            if intent is None:
                return _error(
                    404, "invalid_request_error", "resource_missing", "No such payment_intent"
                ), True
            if method == "GET" and len(parts) == 3:
                return self._expanded(intent, form)
            if method == "POST" and parts[3:] == ["capture"]:
                return self._capture(intent, form)
            if method == "POST" and parts[3:] == ["confirm"]:
                return self._confirm(
                    intent, form.get("payment_method") or intent.get("payment_method") or ""
                )
            if method == "POST" and parts[3:] == ["cancel"]:
                return self._cancel(intent, form)
        if method == "POST" and parts == ["v1", "refunds"]:
            return self._create_refund(form)
        if method == "GET" and parts == ["v1", "balance_transactions"]:
            return self._list_balance_transactions(form)
        if method == "GET" and parts == ["v1", "payouts"]:
            return self._list_payouts(form)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "payouts"]:
            payout = self.payouts.get(parts[2])
            if payout is None:
                return _error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    f"No such payout: '{parts[2]}'",
                ), True
            return Answer(200, dict(payout)), False
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "balance_transactions"]:
            txn = self.balance_transactions.get(parts[2])
            if txn is None:
                return _error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    f"No such balance transaction: '{parts[2]}'",
                ), True
            return Answer(200, dict(txn)), False
        return _error(
            404, "invalid_request_error", "resource_missing", "Unrecognized request URL"
        ), True

    def _list_balance_transactions(self, form: dict[str, str]) -> tuple[Answer, bool]:
        allowed = {"payout", "type", "source", "currency"}
        refused = _list_params_refused(form, allowed)
        if refused:
            return refused, True
        payout = form.get("payout")
        if payout is not None and payout not in self.payouts:
            return _error(
                400, "invalid_request_error", "resource_missing", f"No such payout: '{payout}'"
            ), True
        items = [
            t
            for t in self.balance_transactions.values()
            if (payout is None or self.payout_of.get(t["id"]) == payout)
            and all(form.get(k) is None or str(t.get(k)) == form[k] for k in ("type", "currency"))
            and (form.get("source") is None or t.get("source") == form["source"])
        ]
        paths = [v for k, v in form.items() if k == "expand" or k.startswith("expand[")]
        for path in paths:
            if path != "data.source":
                return _error(
                    400,
                    "invalid_request_error",
                    "parameter_invalid_string",
                    f"This property cannot be expanded ({path}).",
                ), True
        answer, stop = _list_answer("/v1/balance_transactions", items, form)
        if paths and answer.status == 200:
            # ``expand[]=data.source``: a charge's line carries the Charge (with its
            # payment_intent); the fake keeps other sources (refunds, payouts) as ids.
            answer.body["data"] = [
                {**t, "source": dict(self.charges[t["source"]])}
                if isinstance(t.get("source"), str) and t["source"] in self.charges
                else t
                for t in answer.body["data"]
            ]
        return answer, stop

    def _list_payouts(self, form: dict[str, str]) -> tuple[Answer, bool]:
        refused = _list_params_refused(form, {"status", "destination", "arrival_date"})
        if refused:
            return refused, True
        items = [
            p
            for p in self.payouts.values()
            if form.get("status") is None or p["status"] == form["status"]
        ]
        return _list_answer("/v1/payouts", items, form)

    def _create_intent(self, form: dict[str, str]) -> tuple[Answer, bool]:
        if not form.get("amount", "").isdigit() or not form.get("currency"):
            return _error(
                400, "invalid_request_error", "parameter_missing", "Missing amount or currency"
            ), True
        intent: dict[str, Any] = {
            "id": self._next_id("pi"),
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "amount_received": 0,
            "currency": form["currency"],
            "status": "requires_payment_method",
            "amount_capturable": 0,
            "capture_method": form.get("capture_method") or "automatic",
            "confirmation_method": "automatic",
            "client_secret": "pi_secret_redacted",
            "latest_charge": None,
            "last_payment_error": None,
            "payment_method": form.get("payment_method"),
            "payment_method_types": [
                v for k, v in form.items() if k.startswith("allowed_payment_method_types[")
            ],
            "metadata": _metadata(form),
            "livemode": False,
            "created": int(time.time()),
        }
        if intent["payment_method"]:
            intent["status"] = "requires_confirmation"
        self.intents[intent["id"]] = intent
        if form.get("confirm") == "true":
            return self._confirm(intent, intent["payment_method"] or "")
        return Answer(200, dict(intent)), False

    def _confirm(self, intent: dict[str, Any], payment_method: str) -> tuple[Answer, bool]:
        if intent["status"] in ("succeeded", "canceled", "processing"):
            return _unexpected_state(intent), False
        if not payment_method:
            return _error(
                400, "invalid_request_error", "payment_intent_unexpected_state", "No payment method"
            ), False
        intent["payment_method"] = payment_method
        if payment_method == "pm_card_chargeDeclined":
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
            }
            answer = _error(402, "card_error", "card_declined", "Your card was declined.")
            answer.body["error"]["decline_code"] = "generic_decline"
            answer.body["error"]["payment_intent"] = dict(intent)
            return answer, False
        self._charge(intent)
        return Answer(200, dict(intent)), False

    def _cancel(self, intent: dict[str, Any], form: dict[str, str]) -> tuple[Answer, bool]:
        reason = form.get("cancellation_reason")
        if reason is not None and reason not in CANCELLATION_REASONS:
            return _error(
                400,
                "invalid_request_error",
                "parameter_invalid_string",
                "Invalid cancellation_reason.",
            ), True
        # Stripe cancels only an intent still waiting for something (processing: rarely, not
        # here); a succeeded or canceled one is refused.
        if intent["status"] in ("succeeded", "canceled", "processing"):
            return _unexpected_state(intent), False
        intent["status"] = "canceled"
        intent["cancellation_reason"] = reason
        intent["canceled_at"] = int(time.time())
        return Answer(200, dict(intent)), False

    def succeed(self, intent_id: str) -> dict[str, Any]:
        """The customer pays (e.g. a Pix or boleto paid out of band): the intent succeeds,
        unless it was canceled: Stripe takes no money for a canceled intent (ValueError)."""
        with self.lock:
            intent = self.intents[intent_id]
            if intent["status"] == "canceled":
                raise ValueError(f"{intent_id} is canceled: Stripe takes no payment for it.")
            self._charge(intent)
            return dict(intent)

    def _charge(self, intent: dict[str, Any]) -> None:
        """The customer's payment: a Charge, captured at once unless ``capture_method`` is
        manual (then the intent ``requires_capture`` the whole amount)."""
        charge_id = f"ch_{intent['id'][3:]}"
        intent["latest_charge"] = charge_id
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "captured": False,
            "balance_transaction": None,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "paid": True,
            "status": "succeeded",
            "created": int(time.time()),
        }
        if intent["capture_method"] == "manual":
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            return
        self._settle(intent, intent["amount"])

    def _settle(self, intent: dict[str, Any], amount: int) -> None:
        """Capture ``amount`` of the intent's charge: the intent succeeds and the charge gets
        its balance transaction (fee and net)."""
        charge = self.charges[intent["latest_charge"]]
        fee = min((amount * self.fee_basis_points + 5_000) // 10_000 + self.fee_fixed, amount)
        created = self._now()
        currency = self.settlement_currency or intent["currency"]
        txn = {
            "id": f"txn_{intent['id'][3:]}",
            "object": "balance_transaction",
            "amount": amount,
            "available_on": created + 2 * 86_400,
            "created": created,
            "currency": currency,
            "description": None,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ],
            "net": amount - fee,
            "reporting_category": "charge",
            "source": charge["id"],
            "status": "pending",
            "type": "charge",
        }
        self.balance_transactions[txn["id"]] = txn
        charge.update(captured=True, amount_captured=amount, balance_transaction=txn["id"])
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)

    def _capture(self, intent: dict[str, Any], form: dict[str, str]) -> tuple[Answer, bool]:
        if intent["status"] != "requires_capture":
            return _unexpected_state(intent), False
        raw = form.get("amount_to_capture")
        amount = intent["amount_capturable"] if raw is None else int(raw) if raw.isdigit() else -1
        if not 0 < amount <= intent["amount_capturable"]:
            return _error(
                400,
                "invalid_request_error",
                "amount_too_large",
                "The amount to capture must be positive and at most the amount capturable.",
            ), True
        self._settle(intent, amount)
        return Answer(200, dict(intent)), False

    def _expanded(self, intent: dict[str, Any], form: dict[str, str]) -> tuple[Answer, bool]:
        """The intent with the ``expand[]`` paths Stripe can expand on it (the charge and its
        balance transaction); any other path is refused like Stripe does."""
        paths = [v for k, v in form.items() if k == "expand" or k.startswith("expand[")]
        body = dict(intent)
        for path in paths:
            if path not in ("latest_charge", "latest_charge.balance_transaction"):
                return _error(
                    400,
                    "invalid_request_error",
                    "parameter_invalid_string",
                    f"This property cannot be expanded ({path}).",
                ), True
            charge = self.charges.get(intent["latest_charge"] or "")
            if charge is None:
                continue
            charge = dict(charge)
            if path.endswith(".balance_transaction") and charge["balance_transaction"]:
                charge["balance_transaction"] = dict(
                    self.balance_transactions[charge["balance_transaction"]]
                )
            if not isinstance(body["latest_charge"], dict) or path.endswith("transaction"):
                body["latest_charge"] = charge
        return Answer(200, body), False

    def _create_refund(self, form: dict[str, str]) -> tuple[Answer, bool]:
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None:
            return _error(
                400, "invalid_request_error", "resource_missing", "No such payment_intent"
            ), True
        if intent["status"] != "succeeded":
            return _error(
                400, "invalid_request_error", "charge_not_refundable", "Not refundable"
            ), False
        refunded = sum(
            r["amount"]
            for r in self.refunds.values()
            if r["payment_intent"] == intent["id"] and r["status"] != "failed"
        )
        remaining = intent["amount"] - refunded
        amount = int(form["amount"]) if form.get("amount", "").isdigit() else remaining
        if amount <= 0 or amount > remaining:
            return _error(
                400,
                "invalid_request_error",
                "amount_too_large",
                "Refund amount is greater than unrefunded amount",
            ), False
        refund: dict[str, Any] = {
            "id": self._next_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "payment_intent": intent["id"],
            "currency": intent["currency"],
            "created": int(time.time()),
            "status": self.refund_status,
            "reason": form.get("reason"),
            "failure_reason": None,
            "metadata": _metadata(form),
        }
        self.refunds[refund["id"]] = refund
        if refund["status"] == "succeeded":
            txn = self.add_balance_transaction(
                "refund", -amount, currency=intent["currency"], source=refund["id"]
            )
            refund["balance_transaction"] = txn["id"]
        return Answer(200, dict(refund)), False


LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before"})
CREATED_PARAMS = frozenset(
    {"created", "created[gte]", "created[gt]", "created[lte]", "created[lt]"}
)


def _list_params_refused(form: dict[str, str], allowed: set[str]) -> Answer | None:
    """Stripe's checks on a list call: known parameters only, ``limit`` an integer 1-100,
    created bounds integers."""
    for key in form:
        if key not in LIST_PARAMS | CREATED_PARAMS | allowed and not key.startswith("expand"):
            return _error(
                400,
                "invalid_request_error",
                "parameter_unknown",
                f"Received unknown parameter: {key}",
            )
    limit = form.get("limit", "10")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        return _error(
            400,
            "invalid_request_error",
            "parameter_invalid_integer",
            "Invalid limit: must be between 1 and 100.",
        )
    for key in CREATED_PARAMS & set(form):
        if not form[key].isdigit():
            return _error(
                400, "invalid_request_error", "parameter_invalid_integer", f"Invalid {key}."
            )
    return None


def _list_answer(
    url: str, items: list[dict[str, Any]], form: dict[str, str]
) -> tuple[Answer, bool]:
    """Newest first (created, then booking order), filtered by created, cut at the cursor."""
    bounds = {
        "created[gte]": lambda c, v: c >= v,
        "created[gt]": lambda c, v: c > v,
        "created[lte]": lambda c, v: c <= v,
        "created[lt]": lambda c, v: c < v,
        "created": lambda c, v: c == v,
    }
    for key, test in bounds.items():
        if key in form:
            items = [i for i in items if test(i["created"], int(form[key]))]
    ordered = [
        i for _, i in sorted(enumerate(items), key=lambda p: (p[1]["created"], p[0]), reverse=True)
    ]
    ids = [i["id"] for i in ordered]
    for key in ("starting_after", "ending_before"):
        cursor = form.get(key)
        if cursor is None:
            continue
        if cursor not in ids:
            return _error(
                400, "invalid_request_error", "resource_missing", f"No such object: '{cursor}'"
            ), True
        at = ids.index(cursor)
        ordered = ordered[at + 1 :] if key == "starting_after" else ordered[:at]
    limit = int(form.get("limit", "10"))
    page = ordered[:limit] if "ending_before" not in form else ordered[-limit:]
    return Answer(
        200,
        {
            "object": "list",
            "url": url,
            "has_more": len(ordered) > limit,
            "data": [dict(i) for i in page],
        },
    ), False


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {
        k[len("metadata[") : -1]: v
        for k, v in form.items()
        if k.startswith("metadata[") and k.endswith("]")
    }


def _error(status: int, type_: str, code: str, message: str) -> Answer:
    error: dict[str, Any] = {"type": type_, "message": message}
    if code:
        error["code"] = code
    return Answer(status, {"error": error})


def _unexpected_state(intent: dict[str, Any]) -> Answer:
    return _error(
        400,
        "invalid_request_error",
        "payment_intent_unexpected_state",
        f"This PaymentIntent's status is {intent['status']}.",
    )


def _handler_for(fake: FakeStripe, host: str = "api") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            content_type = self.headers.get("Content-Type") or ""
            uploads: dict[str, Upload] = {}
            if content_type.startswith("multipart/form-data"):
                form, parts_ = parse_multipart(content_type, body)
                uploads = dict(parts_)
            else:
                raw = body.decode("utf-8")
                form = dict(parse_qsl(raw or parts.query, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer, hang = fake.handle(
                self.command, parts.path, headers, form, host=host, uploads=uploads
            )
            if hang:
                time.sleep(hang)
            body = json.dumps(answer.body).encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Request-Id", f"req_{len(fake.seen)}")
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (read timeout)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    with (
        serve_on_loopback(_handler_for(fake)) as base,
        serve_on_loopback(_handler_for(fake, "files")) as files_base,
    ):
        fake.url = base
        fake.files_url = files_base
        yield fake

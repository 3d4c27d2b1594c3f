"""A fake Asaas API on 127.0.0.1 speaking the endpoints of CONTRACTS §2, and webhook helpers.

The fake keeps customers, payments and their refunds in memory (``DELETE /payments/{id}`` only
for a charge awaiting payment or overdue, as the docs say, and ``POST .../restore`` only for a
deleted one; a customer only with a valid
``cpfCnpj``, and a charge only for a customer that has one, as the live API), checks ``access_token`` on every
request (401 with Asaas's error body otherwise), records every request, and injects faults per
``(method, path)``: ``"500"`` (answer 500, apply nothing), ``"timeout"`` (apply nothing, answer
too late), ``"timeout_after_apply"`` (apply, then answer too late: the case that double-charges
a naive client).

Statement: ``GET /financialTransactions`` (``offset``, ``limit`` at most 100, ``startDate`` /
``finishDate`` São Paulo days ``YYYY-MM-DD``, both ends included; oldest first) and
``GET /transfers`` (``offset``, ``limit``, ``dateCreated[ge|le]``), lists as Asaas answers them
(``object``, ``hasMore``, ``totalCount``, ``limit``, ``offset``, ``data``). A paid charge books
``PAYMENT_RECEIVED`` (``value``) and ``PAYMENT_FEE`` (minus ``fee``), a refund ``PAYMENT_REFUND``,
``transfer()`` a ``TRANSFER`` (and ``TRANSFER_FEE`` when it has a fee); each line carries the running
``balance``. ``today`` is the São Paulo day new lines get. A limit over 100 or a malformed date is
refused (400), as Asaas does.

Chargebacks: ``open_chargeback()`` puts one on a paid charge (``chargeback`` with ``status``
``REQUESTED``, ``value``, ``reason``, ``deadlineToSendDisputeDocuments``; the charge
``CHARGEBACK_REQUESTED``). ``POST /v3/chargebacks/{id}/dispute`` (docs "Criar disputa de
chargeback"; the id of the charge, which has one chargeback) takes only a multipart body of 1 to 11
``files``; it is refused (400) for a chargeback that is not ``REQUESTED`` (already disputed or
decided) or past its deadline, and moves it to ``IN_DISPUTE`` (the charge to
``CHARGEBACK_DISPUTE``).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError

from accounts.customers.validators import normalize_tax_document, tax_document_kind
from tests.support.loopback import serve_on_loopback
from tests.support.multipart import Upload, parse_multipart

MAX_DISPUTE_FILES = 11

API_KEY = "$aact_hmlg_000TestKeyForTheFakeServer000"
WEBHOOK_TOKEN = "whtok-asaas-test-0123456789abcdefghij"  # 32-255 characters, as Asaas asks
SLOW = 3.0  # seconds a "timeout" fault waits; the client's read timeout is 1 s


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw, parse_float=Decimal) if self.raw else None


def _num(value: Decimal) -> float:
    # Asaas answers with JSON numbers (100.0); the client decodes them as Decimal.
    return float(value)


@dataclass
class FakeAsaas:
    url: str = ""
    api_key: str = API_KEY
    seen: list[Seen] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    fee: Decimal = Decimal("0.99")
    """Asaas's fee per charge: ``netValue`` is ``value`` less this."""
    statement: list[dict[str, Any]] = field(default_factory=list)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    today: date = field(default_factory=date.today)

    def book(
        self,
        type_: str,
        value: Decimal,
        *,
        description: str = "",
        payment_id: str | None = None,
        transfer_id: str | None = None,
    ) -> dict[str, Any]:
        """A line on the account statement (call with the lock held or from a test)."""
        balance = (self.statement[-1]["balance"] if self.statement else Decimal(0)) + value
        line = {
            "object": "financialTransaction",
            "id": f"ft_{next(self.ids):012d}",
            "value": value,
            "balance": balance,
            "type": type_,
            "date": self.today.isoformat(),
            "description": description,
            "paymentId": payment_id,
            "transferId": transfer_id,
        }
        self.statement.append(line)
        return line

    def transfer(
        self, value: Decimal, *, fee: Decimal = Decimal(0), status: str = "DONE"
    ) -> dict[str, Any]:
        """Money sent to the bank account: a transfer and its statement lines."""
        with self.lock:
            transfer: dict[str, Any] = {
                "object": "transfer",
                "id": f"tra_{next(self.ids):012d}",
                "type": "BANK_ACCOUNT",
                "dateCreated": self.today.isoformat(),
                "value": value,
                "netValue": value - fee,
                "transferFee": fee,
                "status": status,
                "effectiveDate": self.today.isoformat() if status == "DONE" else None,
                "scheduleDate": self.today.isoformat(),
                "authorized": True,
                "failReason": None,
                "operationType": "PIX",
                "description": None,
            }
            self.transfers[transfer["id"]] = transfer
            self.book("TRANSFER", -value, description="Transferência", transfer_id=transfer["id"])
            if fee:
                self.book(
                    "TRANSFER_FEE",
                    -fee,
                    description="Taxa de transferência",
                    transfer_id=transfer["id"],
                )
            return dict(transfer)

    def fail(self, method: str, path: str, *faults: str) -> None:
        """The next requests to ``method path`` (path without /v3) meet these faults, in order."""
        self.faults[(method, path)] = list(faults)

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == "/v3" + path]

    def set_status(self, payment_id: str, status: str) -> None:
        with self.lock:
            self.payments[payment_id]["status"] = status

    def open_chargeback(
        self,
        payment_id: str,
        *,
        reason: str = "FRAUD",
        deadline: date | None = None,
        value: Decimal | None = None,
    ) -> dict[str, Any]:
        """The customer's bank charges the payment back (Asaas's ``chargeback`` object)."""
        with self.lock:
            payment = self.payments[payment_id]
            payment["status"] = "CHARGEBACK_REQUESTED"
            payment["chargeback"] = {
                "status": "REQUESTED",
                "reason": reason,
                "value": payment["value"] if value is None else value,
                "deadlineToSendDisputeDocuments": (deadline or self.today).isoformat(),
            }
            return dict(payment["chargeback"])

    def dispute_files(self, payment_id: str) -> list[Upload]:
        """The files the chargeback's dispute was created with."""
        return list(self.payments[payment_id].get("dispute_files", []))

    def create_dispute(
        self, payment: dict[str, Any], uploads: list[tuple[str, Upload]]
    ) -> tuple[int, Any]:
        chargeback = payment.get("chargeback")
        if not chargeback:
            return 404, _error("not_found", "Chargeback não encontrado.")
        files = [u for name, u in uploads if name == "files"]
        if not files:
            return 400, _error("invalid_files", "Informe ao menos um arquivo.")
        if len(files) > MAX_DISPUTE_FILES:
            return 400, _error("invalid_files", "Envie no máximo 11 arquivos.")
        if chargeback["status"] != "REQUESTED":
            return 400, _error(
                "invalid_action", "Este chargeback não permite a abertura de disputa."
            )
        deadline = date.fromisoformat(chargeback["deadlineToSendDisputeDocuments"])
        if self.today > deadline:
            return 400, _error(
                "invalid_action", "O prazo para envio de documentos deste chargeback expirou."
            )
        chargeback["status"] = "IN_DISPUTE"
        payment["status"] = "CHARGEBACK_DISPUTE"
        payment["dispute_files"] = files
        return 200, {
            "object": "chargeback",
            "payment": payment["id"],
            "status": "IN_DISPUTE",
            "reason": chargeback["reason"],
            "value": _num(chargeback["value"]),
            "disputeStartDate": self.today.isoformat(),
        }

    def refunds_of(self, payment_id: str) -> list[dict[str, Any]]:
        return list(self.payments[payment_id]["refunds"])

    # The API -----------------------------------------------------------------------------

    def payment_json(self, p: dict[str, Any]) -> dict[str, Any]:
        chargeback = p.get("chargeback")
        extra = (
            {"chargeback": {**chargeback, "value": _num(chargeback["value"])}} if chargeback else {}
        )
        return {
            **{k: v for k, v in p.items() if k != "dispute_files"},
            **extra,
            "value": _num(p["value"]),
            "netValue": _num(p["value"] - self.fee),
            "refunds": [{**r, "value": _num(r["value"])} for r in p["refunds"]] or None,
        }

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        parts = path.removeprefix("/v3/").split("/")
        if parts == ["customers"] and method == "GET":
            key, value = next(
                ((k, v[0]) for k, v in query.items() if k in ("email", "cpfCnpj")), ("", "")
            )
            found = [c for c in self.customers.values() if key and c.get(key) == value]
            return 200, _list(found)
        if parts == ["customers"] and method == "POST":
            if not body.get("name"):
                return 400, _error("invalid_name", "O nome do cliente é obrigatório.")
            # cpfCnpj is required on create (CONTRACTS §2: the official SDK and Postman).
            if not body.get("cpfCnpj"):
                return 400, _error("invalid_cpfCnpj", "O CPF/CNPJ do cliente é obrigatório.")
            try:
                tax_document_kind(normalize_tax_document(str(body["cpfCnpj"])))
            except ValidationError:
                return 400, _error("invalid_cpfCnpj", "O CPF/CNPJ informado é inválido.")
            customer = {"object": "customer", "id": f"cus_{next(self.ids):012d}", **body}
            self.customers[customer["id"]] = customer
            return 200, customer
        if parts == ["payments"] and method == "GET":
            ref = query.get("externalReference", [""])[0]
            found = [
                self.payment_json(p)
                for p in self.payments.values()
                if p["externalReference"] == ref
            ]
            return 200, _list(found)
        if parts == ["payments"] and method == "POST":
            return self.create_payment(body)
        if parts == ["financialTransactions"] and method == "GET":
            return self.list_statement(query)
        if parts == ["transfers"] and method == "GET":
            return self.list_transfers(query)
        if len(parts) >= 2 and parts[0] == "payments":
            payment = self.payments.get(parts[1])
            if payment is None:
                return 404, _error("not_found", "Cobrança não encontrada.")
            if len(parts) == 2 and method == "GET":
                return 200, self.payment_json(payment)
            if len(parts) == 2 and method == "DELETE":
                return self.delete_payment(payment)
            if parts[2:] == ["pixQrCode"] and method == "GET":
                return 200, {
                    "success": True,
                    "encodedImage": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
                    "payload": f"00020101021226820014br.gov.bcb.pix2560qrpix.example/{payment['id']}5204000053039865802BR6304ABCD",
                    "expirationDate": f"{payment['dueDate']} 23:59:59",
                }
            if parts[2:] == ["refund"] and method == "POST":
                return self.refund(payment, body or {})
            if parts[2:] == ["restore"] and method == "POST":
                return self.restore_payment(payment)
        return 404, _error("not_found", f"No route {method} {path}")

    def list_statement(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        window = _page_window(query)
        if isinstance(window, str):
            return 400, _error("invalid_parameter", window)
        bounds: list[date | None] = []
        for key in ("startDate", "finishDate"):
            raw = query.get(key, [""])[0]
            try:
                bounds.append(date.fromisoformat(raw) if raw else None)
            except ValueError:
                return 400, _error(f"invalid_{key}", f"{key} inválido: use AAAA-MM-DD.")
        start, finish = bounds
        lines = [
            line
            for line in self.statement
            if (start is None or date.fromisoformat(line["date"]) >= start)
            and (finish is None or date.fromisoformat(line["date"]) <= finish)
        ]
        return 200, _list(lines, *window)

    def list_transfers(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        window = _page_window(query)
        if isinstance(window, str):
            return 400, _error("invalid_parameter", window)
        found = list(self.transfers.values())
        for key, keep in (
            ("dateCreated[ge]", lambda d, b: d >= b),
            ("dateCreated[le]", lambda d, b: d <= b),
        ):
            raw = query.get(key, [""])[0]
            if raw:
                try:
                    bound = date.fromisoformat(raw)
                except ValueError:
                    return 400, _error("invalid_dateCreated", "Data inválida.")
                found = [t for t in found if keep(date.fromisoformat(t["dateCreated"]), bound)]
        return 200, _list(found, *window)

    def create_payment(self, body: dict[str, Any]) -> tuple[int, Any]:
        for required in ("customer", "billingType", "value", "dueDate"):
            if body.get(required) in (None, ""):
                return 400, _error(f"invalid_{required}", f"{required} is required.")
        if body["customer"] not in self.customers:
            return 400, _error("invalid_customer", "Cliente inexistente.")
        if not self.customers[body["customer"]].get("cpfCnpj"):
            # A customer kept from before cpfCnpj was required cannot be charged.
            return 400, _error(
                "invalid_customer.cpfCnpj",
                "Para criar esta cobrança é necessário preencher o CPF ou CNPJ do cliente.",
            )
        if body["billingType"] not in ("BOLETO", "PIX", "CREDIT_CARD", "UNDEFINED"):
            return 400, _error("invalid_billingType", "billingType inválido.")
        value = body["value"]
        if not isinstance(value, Decimal) or value <= 0:
            return 400, _error("invalid_value", "value inválido.")
        refused = self._split_refused(body.get("split"), value - self.fee)
        if refused:
            return 400, _error("invalid_split", refused)
        pid = f"pay_{next(self.ids):012d}"
        payment = {
            "object": "payment",
            "id": pid,
            "dateCreated": date.today().isoformat(),
            "customer": body["customer"],
            "billingType": body["billingType"],
            "value": value,
            "status": "PENDING",
            "dueDate": body["dueDate"],
            "description": body.get("description"),
            "externalReference": body.get("externalReference"),
            "invoiceUrl": f"https://sandbox.asaas.com/i/{pid[4:]}",
            "bankSlipUrl": f"https://sandbox.asaas.com/b/pdf/{pid[4:]}"
            if body["billingType"] == "BOLETO"
            else None,
            "deleted": False,
            "refunds": [],
            "split": body.get("split"),
        }
        self.payments[pid] = payment
        return 200, self.payment_json(payment)

    @staticmethod
    def _split_refused(split: Any, net: Decimal) -> str:
        """Why Asaas refuses a ``split`` array (docs split-in-single-payments), or '': each item
        a ``walletId`` with ``fixedValue`` or ``percentualValue`` (> 0; a percentage at most 100,
        applied to the net value), and the parts together never above the net value."""
        if split is None:
            return ""
        if not isinstance(split, list):
            return "split deve ser uma lista."
        total = Decimal(0)
        for item in split:
            if not isinstance(item, dict) or not str(item.get("walletId") or "").strip():
                return "walletId é obrigatório em cada item do split."
            fixed, percent = item.get("fixedValue"), item.get("percentualValue")
            if (fixed is None) == (percent is None):
                return "Informe fixedValue ou percentualValue em cada item do split."
            share = fixed if fixed is not None else percent
            if not isinstance(share, Decimal | int) or share <= 0:
                return "O valor do split deve ser positivo."
            if percent is not None and percent > 100:
                return "O percentual do split não pode passar de 100."
            total += Decimal(share) if fixed is not None else net * Decimal(share) / 100
        if total > net:
            return "O valor total do split excede o valor líquido da cobrança."
        return ""

    def delete_payment(self, payment: dict[str, Any]) -> tuple[int, Any]:
        # "Somente cobranças aguardando pagamento ou vencidas podem ser removidas" (docs).
        if payment["deleted"] or payment["status"] not in ("PENDING", "OVERDUE"):
            return 400, _error(
                "invalid_action",
                "Somente cobranças aguardando pagamento ou vencidas podem ser removidas.",
            )
        payment["deleted"] = True
        return 200, {"deleted": True, "id": payment["id"]}

    def restore_payment(self, payment: dict[str, Any]) -> tuple[int, Any]:
        # POST /payments/{id}/restore: only a removed charge; it can be paid again after.
        if not payment["deleted"]:
            return 400, _error(
                "invalid_action", "Somente cobranças removidas podem ser restauradas."
            )
        payment["deleted"] = False
        return 200, self.payment_json(payment)

    def pay(self, payment_id: str, status: str = "RECEIVED") -> dict[str, Any]:
        """The customer pays the charge; a deleted charge can no longer be paid (ValueError)."""
        with self.lock:
            payment = self.payments[payment_id]
            if payment["deleted"]:
                raise ValueError(f"{payment_id} was deleted: the customer cannot pay it.")
            payment["status"] = status
            if status in ("RECEIVED", "CONFIRMED"):
                self.book(
                    "PAYMENT_RECEIVED",
                    payment["value"],
                    payment_id=payment_id,
                    description=f"Cobrança recebida - fatura nr. {payment_id}",
                )
                self.book(
                    "PAYMENT_FEE",
                    -self.fee,
                    payment_id=payment_id,
                    description=f"Taxa do boleto - fatura nr. {payment_id}",
                )
            return self.payment_json(payment)

    def refund(self, payment: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        if payment["status"] not in ("RECEIVED", "CONFIRMED"):
            return 400, _error("invalid_action", "Só é possível estornar cobranças recebidas.")
        done = sum((r["value"] for r in payment["refunds"]), Decimal(0))
        value = body.get("value", payment["value"] - done)
        if not isinstance(value, Decimal | int) or value <= 0 or done + value > payment["value"]:
            return 400, _error("invalid_value", "O valor do estorno excede o valor recebido.")
        payment["refunds"].append(
            {
                "dateCreated": date.today().isoformat(),
                "status": "PENDING",
                "value": Decimal(value),
                "description": body.get("description"),
                "transactionReceiptUrl": None,
            }
        )
        self.book(
            "PAYMENT_REFUND",
            -Decimal(value),
            payment_id=payment["id"],
            description=f"Estorno da cobrança - fatura nr. {payment['id']}",
        )
        if done + value == payment["value"]:
            payment["status"] = "REFUND_REQUESTED"
        return 200, self.payment_json(payment)


def _list(items: list[dict[str, Any]], offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """An Asaas list page; without ``limit`` every item (the lookups that find one or two)."""
    end = len(items) if limit is None else offset + limit
    return {
        "object": "list",
        "hasMore": end < len(items),
        "totalCount": len(items),
        "limit": 10 if limit is None else limit,
        "offset": offset,
        "data": items[offset:end],
    }


def _page_window(query: dict[str, list[str]]) -> tuple[int, int] | str:
    """``offset`` and ``limit`` (default 10, at most 100, as Asaas documents), or the refusal."""
    offset, limit = query.get("offset", ["0"])[0], query.get("limit", ["10"])[0]
    if not offset.isdigit() or not limit.isdigit():
        return "offset e limit devem ser números."
    if not 1 <= int(limit) <= 100:
        return "O limite máximo de registros por página é 100."
    return int(offset), int(limit)


def _error(code: str, description: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "description": description}]}


def _handler_for(fake: FakeAsaas) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            seen = Seen(
                self.command,
                split.path,
                parse_qs(split.query),
                {k.lower(): v for k, v in self.headers.items()},
                raw,
            )
            with fake.lock:
                fake.seen.append(seen)
                faults = fake.faults.get((self.command, split.path.removeprefix("/v3")), [])
                fault = faults.pop(0) if faults else ""
                if self.headers.get("access_token") != fake.api_key:
                    status, answer = (
                        401,
                        _error("invalid_access_token", "A chave de API fornecida é inválida"),
                    )
                elif fault in ("500", "timeout"):
                    status, answer = 500, _error("internal", "Erro interno")
                else:
                    content_type = self.headers.get("Content-Type") or ""
                    parts = split.path.removeprefix("/v3/").split("/")
                    is_dispute = (
                        self.command == "POST"
                        and len(parts) == 3
                        and parts[0] == "chargebacks"
                        and parts[2] == "dispute"
                    )
                    if is_dispute:
                        payment = fake.payments.get(parts[1])
                        if not content_type.startswith("multipart/form-data"):
                            status, answer = (
                                400,
                                _error("invalid_files", "Envie os arquivos como multipart."),
                            )
                        elif payment is None:
                            status, answer = 404, _error("not_found", "Cobrança não encontrada.")
                        else:
                            status, answer = fake.create_dispute(
                                payment, parse_multipart(content_type, raw)[1]
                            )
                    else:
                        try:
                            body = seen.body
                        except ValueError:
                            status, answer = 400, _error("invalid_json", "JSON inválido")
                        else:
                            status, answer = fake.handle(self.command, split.path, seen.query, body)
            if fault.startswith("timeout"):
                time.sleep(SLOW)
            payload = json.dumps(answer, default=_num).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (read timeout)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_asaas() -> Iterator[FakeAsaas]:
    """A FakeAsaas listening on 127.0.0.1 (its ``url`` ends in ``/v3``) until the block ends."""
    fake = FakeAsaas()
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = f"{base}/v3"
        yield fake

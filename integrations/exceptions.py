"""Expected failures shared by every app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import requests


class SwitchboardError(Exception):
    """Base class for failures a caller is expected to handle: a domain refusal (nothing was
    changed) or a provider failure.

    Every subclass declares its own ``code``: a stable machine name that API clients, logs and
    tests can rely on (never reworded; a new refusal gets a new subclass and code), with the
    ``http_status`` and ``title`` the API answers it with (``integrations.api_errors``). The
    message (``str(exc)``) is for people: it may change, and it never holds a secret."""

    code: ClassVar[str] = "switchboard_error"
    http_status: ClassVar[int] = 400
    title: ClassVar[str] = "Request refused"


class InvalidTransition(SwitchboardError):
    """A status change that the entity's allowed-transitions map refuses. Nothing was changed."""

    code = "invalid_transition"
    http_status = 409
    title = "Status change not allowed"

    def __init__(self, *, entity: str, current: str, target: str) -> None:
        self.entity = entity
        self.current = current
        self.target = target
        super().__init__(f"{entity} cannot go from '{current}' to '{target}'.")


class UnknownEventType(SwitchboardError):
    """record_event was given a type nobody registered (a bug on our side, not the caller's)."""

    code = "unknown_event_type"
    http_status = 500
    title = "Unknown event type"


class ObjectNotReady(SwitchboardError):
    """The fact is about an object we have not recorded yet; the inbox retries it later."""

    code = "object_not_ready"
    http_status = 409
    title = "Object not recorded yet"


class AmountMismatch(SwitchboardError):
    """The provider's amount or currency disagrees with our record: flagged, never applied."""

    code = "amount_mismatch"
    http_status = 422
    title = "Amount or currency mismatch"


class InvalidEventPayload(SwitchboardError):
    """record_event was given data that does not match its type's declared payload (a key
    missing or unknown, a value of the wrong type, or not JSON). Nothing was written. A bug in
    our own code, never the client's: answered as a server error."""

    code = "invalid_event_payload"
    http_status = 500
    title = "Invalid event payload"

    def __init__(self, *, event_type: str, problems: list[str]) -> None:
        self.event_type = event_type
        self.problems = problems
        super().__init__(f"Payload of {event_type!r} refused: {'; '.join(problems)}.")


class InvalidMoney(SwitchboardError):
    """An amount typed by a person that cannot be read exactly in its currency (garbage, a
    negative, more decimals than the currency has, or an ambiguous separator). Nothing was
    changed."""

    code = "invalid_money"
    http_status = 422
    title = "Invalid amount"


class InvalidCredential(SwitchboardError):
    """A provider credential that cannot be stored (an empty value)."""

    code = "invalid_credential"
    http_status = 422
    title = "Invalid credential"


class ProviderUnavailable(SwitchboardError):
    """A provider could not be reached or answered with a failure worth retrying later.

    Raised after the client's retries are exhausted on timeouts, connection errors, 5xx or 429,
    when a breaker refuses or re-opens, or when a mutating call without an idempotency key failed
    in a way that may have reached the provider (then it was deliberately not retried). The
    caller (a task) retries later, no sooner than ``retry_after`` seconds when that is given.
    """

    code = "provider_unavailable"
    http_status = 503
    title = "Provider unavailable"

    def __init__(
        self,
        detail: str,
        *,
        provider: str = "",
        operation: str = "",
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        self.detail = detail
        self.provider = provider
        self.operation = operation
        self.retry_after = retry_after
        self.status_code = status_code
        super().__init__(detail)


class CircuitOpen(ProviderUnavailable):
    """The provider's circuit breaker is open: nothing was sent. Queue the work, do not drop it."""

    code = "circuit_open"
    title = "Provider circuit open"


class ProviderRejected(SwitchboardError):
    """The provider answered a terminal 4xx (other than 429): retrying the same call cannot help.

    ``detail`` is short and secret-free (status and reason phrase, never the body). ``response``
    lets the adapter read the provider's error code; it must never be logged or stored, and it is
    dropped when the exception is pickled.
    """

    code = "provider_rejected"
    http_status = 502
    title = "Provider refused the request"

    def __init__(
        self,
        detail: str,
        *,
        provider: str = "",
        operation: str = "",
        status_code: int = 0,
        response: requests.Response | None = None,
    ) -> None:
        self.detail = detail
        self.provider = provider
        self.operation = operation
        self.status_code = status_code
        self.response = response
        super().__init__(detail)

    def __reduce__(self) -> tuple[Any, ...]:
        state = {key: value for key, value in self.__dict__.items() if key != "response"}
        return (self.__class__, self.args, state)

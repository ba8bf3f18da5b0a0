"""The one place where LeadGuard's error tree becomes HTTP status codes.

==========================  ======  ==========================================
error                       status  meaning
==========================  ======  ==========================================
LoginRequired (server)      401     no login, or it expired or was revoked; a
                                    failed login (LoginFailed)
NotAllowed                  403     the role or assignment does not allow it
PolicyRefused               409     the casework policy forbids it (``rule``)
InputError "... not exist"  404     the case, request, lead or user is unknown
InputError (and images)     400     bad input; the message names the thing
TooLarge (server)           413     an upload over ``max_image_bytes``
RateLimited (server)        429     too many login attempts, or expensive requests
                                    (``rule``: per_user_limit, per_address_limit);
                                    ``Retry-After``
ServerBusy (server)         503     every compute slot busy and its queue full;
                                    ``Retry-After``
EvidenceUnavailable,        409     the workspace cannot answer this yet
SpaceMismatch
ModelUnavailable,           503     the server's set-up is incomplete
WorkspaceError
any other LeadGuardError    500     (IndexError_: the index is damaged)
HTTP errors (the router)    404,    ``NotFound`` (no such route), ``MethodNotAllowed``;
                            405     (``app.py`` shapes them as ErrorOut)
request validation          422     ``InvalidRequest``: the message names each field
==========================  ======  ==========================================
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from leadguard.core.errors import (
    EvidenceUnavailable,
    InputError,
    LeadGuardError,
    ModelUnavailable,
    SeveralFaces,
    SpaceMismatch,
    WorkspaceError,
)
from leadguard.services.authz import NotAllowed
from leadguard.services.casework.policy import PolicyRefused


class LoginRequired(Exception):
    """No valid login for this request."""


class LoginFailed(LoginRequired, NotAllowed):
    """A wrong user name or password, or a locked or inactive account: 401 (the web login
    form, which catches NotAllowed, shows it on the form)."""


class TooLarge(Exception):
    """An upload larger than the workspace allows."""


class RateLimited(Exception):
    """Too many attempts: logins, or expensive requests (then ``rule`` names the limit)."""

    def __init__(
        self, retry_after: float, what: str = "too many login attempts", rule: str | None = None
    ) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        self.rule = rule
        super().__init__(f"{what}: try again in {self.retry_after} s")


class ServerBusy(Exception):
    """Every compute slot is busy and the queue for them is full."""

    retry_after = 2


class CsrfFailed(Exception):
    """A form posted without the CSRF token of its login session."""


class ErrorOut(BaseModel):
    """Every error of the API: what kind (``error``), in words (``message``), the policy
    rule of a refusal (``rule``), the faces found when there are several (``detections``)."""

    error: str = Field(description="the kind of error, e.g. NotAllowed, PolicyRefused")
    message: str = Field(description="what went wrong, in words")
    rule: str | None = Field(default=None, description="the casework policy rule that refused")
    detections: list[dict[str, Any]] | None = Field(
        default=None, description="the faces found, when a probe holds several"
    )


def status_of(exc: BaseException) -> int:
    if isinstance(exc, LoginRequired):
        return 401
    if isinstance(exc, CsrfFailed | NotAllowed):
        return 403
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, PolicyRefused | EvidenceUnavailable | SpaceMismatch):
        return 409
    if isinstance(exc, InputError):
        return 404 if "does not exist" in str(exc) else 400
    if isinstance(exc, ModelUnavailable | WorkspaceError | ServerBusy):
        return 503
    return 500


def error_body(exc: BaseException) -> ErrorOut:
    detections = None
    if isinstance(exc, SeveralFaces):
        from leadguard.core.serialize import detection_dict

        detections = [detection_dict(d) for d in exc.detections]
    return ErrorOut(
        error=type(exc).__name__,
        message=str(exc)
        if isinstance(
            exc, LeadGuardError | LoginRequired | TooLarge | RateLimited | CsrfFailed | ServerBusy
        )
        else "internal error",
        rule=getattr(exc, "rule", None),
        detections=detections,
    )


def headers_of(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, RateLimited | ServerBusy):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, LoginRequired):
        return {"WWW-Authenticate": "Bearer"}
    return {}


HANDLED: tuple[type[Exception], ...] = (
    LeadGuardError,
    LoginRequired,
    TooLarge,
    RateLimited,
    CsrfFailed,
    ServerBusy,
)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "bad input"),
        (401, "no valid login"),
        (403, "not allowed"),
        (404, "unknown case, request, lead or user"),
        (409, "refused by policy, or not possible yet"),
        (422, "a missing or invalid field (the message names it)"),
        (503, "the server's set-up is incomplete"),
    )
}
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "an upload over max_image_bytes"}
}
TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorOut, "description": "too many login attempts; see Retry-After"}
}
EXPENSIVE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "an upload over max_image_bytes"},
    429: {
        "model": ErrorOut,
        "description": "too many expensive requests by this user or address (the rule "
        "names which); see Retry-After",
    },
}


def validation_message(errors: Any) -> str:
    """A request validation failure in words: each field's place and what is wrong."""
    parts = []
    for e in errors:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"

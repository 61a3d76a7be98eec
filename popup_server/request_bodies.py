"""The REST API's request bodies as typed models, validated at the boundary.

Every body is parsed by :func:`parse_body`: JSON that is malformed, nested
too deeply, not an object, or with a field of the wrong type or out of range
is answered 400 with ``{"error": "<field>: <why>", "field": "<field>"}``
before a route sees it. Validation is strict: ``true`` is not an id, ``"7"``
is not an integer, and an id beyond 64 bits is out of range, not a database
error. Unknown fields are ignored (older panels may send more).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from popup_server.wire import decode, encode

RecordId = Annotated[int, Field(ge=1, le=2**63 - 1)]
"""A database id: a positive 64-bit integer."""
CallId = Annotated[str, StringConstraints(pattern=r"^[\w.-]{1,64}$")]
"""An Asterisk uniqueid ("1795392474.1") or the like."""


class RequestBody(BaseModel):
    """A strictly typed, immutable request body."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class LoginBody(RequestBody):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(max_length=1024)]


class LinkCaseBody(RequestBody):
    tracking_code: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{4,16}$")
    ]
    confirm_other_customer: bool = False
    """The agent confirmed linking a case of a customer other than the caller."""


class OpenCaseBody(RequestBody):
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    call_id: CallId | None = None
    customer_id: RecordId | None = None
    confirm_other_customer: bool = False
    """The agent confirmed opening the call's case for a customer other than the caller."""


class WrapUpBody(RequestBody):
    note: Annotated[str, StringConstraints(max_length=10_000)] = ""
    disposition: Annotated[str, StringConstraints(max_length=64)] | None = None
    case_id: RecordId | None = None
    customer_id: RecordId | None = None
    confirm_other_customer: bool = False
    """The agent confirmed filing the note with a customer or case other than the caller's."""


class OriginateBody(RequestBody):
    number: Annotated[str, StringConstraints(max_length=64)]


class QueuePauseBody(RequestBody):
    paused: bool
    reason: Annotated[str, StringConstraints(max_length=64)] | None = None
    queue: Annotated[str, StringConstraints(pattern=re.compile(r"^[\w.-]{1,64}$"))] | None = None


class HoldBody(RequestBody):
    on: bool


class TransferBody(RequestBody):
    kind: Literal["blind", "attended"]
    to: Annotated[str, StringConstraints(max_length=64)]


class LogoutBody(RequestBody):
    queue: Annotated[str, StringConstraints(pattern=re.compile(r"^[\w.-]{1,64}$"))] | None = None
    """One queue; None: every queue the agent is in."""


class SpyBody(RequestBody):
    mode: Literal["listen", "whisper", "barge"]


Body = TypeVar("Body", bound=RequestBody)


def bad_request(message: str, field: str | None = None) -> web.HTTPBadRequest:
    """A 400 whose JSON body names the field at fault (``field`` null: the body as a whole)."""
    return web.HTTPBadRequest(
        text=encode({"error": message, "field": field}), content_type="application/json"
    )


async def parse_body(request: web.Request, model: type[Body]) -> Body:
    """The request's JSON body as ``model``; raises a 400 naming the first field at fault."""
    try:
        data = decode(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"body must be a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise bad_request(f"{field}: {first['msg']}", field) from None


async def parse_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON body as a plain object, for routes that check field by field
    (a PATCH's "only what was sent"); the same 400s as :func:`parse_body`."""
    try:
        data = decode(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"body must be a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("body must be a JSON object")
    return data

"""A decision's reason in API payloads: the text in the request's language (``Accept-Language``),
the code an integration branches on, and every part's code with its parameters."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from invoice_inbox.store.models import Message


class ReasonPartOut(BaseModel):
    """One sentence of a reason: its code and parameters (sender, file names, sizes, ...)."""

    code: str = Field(description='e.g. "sender_not_allowed"')
    params: dict[str, Any] = Field(  # values of any JSON type, by code
        description='e.g. {"sender": "x@y.test"}'
    )


ReasonText = Annotated[
    str,
    Field(
        description="Why the mail was decided so, in the request's language (Accept-Language); "
        "mail decided before reasons had codes: in English."
    ),
]
ReasonCode = Annotated[
    str | None,
    Field(
        description="The reason's code, for integrations to branch on instead of the text, e.g. "
        "sender_not_allowed, no_attachment, documents_found, duplicate, sender_refused, "
        "not_processed (the code of a matching rule's name in front, rule, is skipped). "
        "Always present for mail decided since reasons have codes; null for older mail."
    ),
]
ReasonParts = Annotated[
    list[ReasonPartOut] | None,
    Field(
        description="The reason as codes with parameters, in order (null for older mail). A "
        "parameter is a value, or a list of parts of its own (a duplicate's original reason)."
    ),
]


def reason_fields(m: Message) -> dict[str, Any]:
    """``reason``, ``reason_code`` and ``reason_parts`` of *m* for an ``...Out`` model."""
    return {
        "reason": m.reason_text,
        "reason_code": m.reason_code,
        "reason_parts": (
            [ReasonPartOut.model_validate(p) for p in m.reason_parts]
            if m.reason_parts is not None
            else None
        ),
    }

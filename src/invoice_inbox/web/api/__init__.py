"""The REST API under ``/api/v1``: one module per resource; each exposes ``router``."""

from __future__ import annotations

from fastapi import APIRouter

from invoice_inbox.web.api import (
    companies,
    documents,
    me,
    message_actions,
    notifications,
    runs,
    sources,
    suppliers,
    webhooks,
)

DESCRIPTION = """\
The invoice-inbox REST API. Every call needs an API token of a user, sent as
`Authorization: Bearer TOKEN` (create one on the "API tokens" screen or with
`invoice-inbox token create EMAIL`). A user sees only the companies they belong to (admins see
all); anything else answers 404. Secrets (passwords, client secrets) can be written, never read.

A document's `einvoice` object (lines, VAT breakdown, totals, references, payment, problems)
is also published as a JSON Schema (draft 2020-12), versioned:
[/api/v1/schemas/einvoice-v1.json](/api/v1/schemas/einvoice-v1.json).
"""

router = APIRouter()
for module in (
    companies,
    sources,
    runs,
    message_actions,
    documents,
    suppliers,
    notifications,
    webhooks,
    me,
):
    router.include_router(module.router)

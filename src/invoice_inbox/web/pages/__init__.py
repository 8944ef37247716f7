"""The admin screens, one module per screen group; each exposes ``router``."""

from __future__ import annotations

from fastapi import APIRouter

from invoice_inbox.web.pages import (
    account,
    admin,
    auth,
    companies,
    document_trust,
    documents,
    language,
    notifications,
    runs,
    source_check,
    source_edit,
    source_rules,
    sources,
    suppliers,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    sources.router,
    source_edit.router,
    source_rules.router,
    source_check.router,
    runs.router,
    documents.router,
    document_trust.router,
    suppliers.router,
    notifications.router,
    webhooks.router,
    admin.router,
    companies.router,
    account.router,
    language.router,
]

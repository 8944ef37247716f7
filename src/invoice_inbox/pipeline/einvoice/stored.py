"""A document's stored ``einvoice`` JSON in the published schema's shape: documents stored
before the booking core (schema version 1) lack its fields; :func:`complete` gives them their
empty values (null, [] or 0), so every surface answers the same object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .booking import SCHEMA_VERSION
from .model import EInvoice

# every field at its empty value (format and document_type are on every stored row)
EMPTY: dict[str, Any] = EInvoice(format="", document_type="").as_dict()


def complete(stored: Mapping[str, Any]) -> dict[str, Any]:
    """*stored* with the fields it lacks at their empty values, and the schema version."""
    found = {name: stored.get(name, empty) for name, empty in EMPTY.items()}
    found["schema_version"] = stored.get("schema_version", SCHEMA_VERSION)
    return found

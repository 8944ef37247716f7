"""Rows of the tables and columns each schema revision brought, for the upgrade-path tests.

Plain SQL that SQLite and PostgreSQL both take; ``{company}``, ``{source}`` … stand for the
first row's id of that table. After migrating to a revision, the test writes that revision's rows,
so every later migration runs over data in every table that exists by then.
"""

from __future__ import annotations

import sqlalchemy as sa

_H = "'" + "a" * 64 + "'"  # a SHA-256 in hex

ROWS_OF: dict[str, list[str]] = {
    "0002": [
        "INSERT INTO import_rule (source_id, position, name, sender, keyword, action)"
        " VALUES ({source}, 1, 'body is the invoice', 'noreply@telco.example', 'Rechnung',"
        " 'body')",
        "UPDATE document SET duplicate_of_id = {document}, duplicate_kind = 'exact',"
        " einvoice = '{{\"invoice_number\": \"INV-8\"}}', einvoice_key = 'acme|INV-8',"
        " origin_sender = 'billing@acme-supplies.example'"
        " WHERE id = (SELECT max(id) FROM document)",
    ],
    "0003": [
        "UPDATE folder_state SET cursor = 'opaque-cursor-1' WHERE id = {folder_state}",
    ],
    "0004": [
        "UPDATE company SET import_token = 'acme-k7p2q9', notify_emails = '[\"ap@acme.example\"]'",
        "UPDATE source SET schedule = 'every 15m', instant = TRUE, failures = 2,"
        " last_error = 'connection lost'",
        "INSERT INTO notification (company_id, source_id, kind, subject, body, created_at,"
        " email_state, webhook_state, attempts)"
        " VALUES ({company}, {source}, 'source.failing', 'ap fails', 'login refused',"
        " '2026-11-22 10:00:00', 'sent', 'none', 1)",
        "INSERT INTO setting (key, value) VALUES ('smtp.host', 'mail.acme.example')",
    ],
    "0005": [
        "INSERT INTO api_token (user_id, name, token_sha256, prefix, created_at)"
        f" VALUES ({{app_user}}, 'erp', {_H}, 'iit_abcd', '2026-11-22 08:02:00')",
        "INSERT INTO web_session (id_sha256, user_id, csrf_token, created_at, expires_at)"
        " VALUES ('" + "d" * 64 + "', {app_user}, 'csrf', '2026-11-22 08:03:00',"
        " '2026-11-29 08:03:00')",
        "INSERT INTO event (company_id, kind, payload, created_at, dispatched)"
        " VALUES ({company}, 'document.created', '{{\"document_id\": 1}}',"
        " '2026-11-22 09:00:01', TRUE)",
        "INSERT INTO webhook (company_id, url, events, secret, description, active, created_at)"
        " VALUES ({company}, 'https://erp.acme.example/hook', '[\"document.created\"]',"
        " 'whsec', 'ERP', TRUE, '2026-11-22 08:04:00')",
        "INSERT INTO webhook_delivery (webhook_id, event_id, state, attempts, last_status,"
        " created_at, delivered_at)"
        " VALUES ({webhook}, {event}, 'delivered', 1, 200, '2026-11-22 09:00:01',"
        " '2026-11-22 09:00:03')",
        "UPDATE document SET processed_at = '2026-11-23 10:00:00',"
        " processed_by = 'clerk@acme.example' WHERE id = {document}",
        "UPDATE source SET restricted_to_user_id = {app_user}",
    ],
    "0006": [
        "INSERT INTO decide_attempt (source_id, raw_sha256, attempts, started_at)"
        f" VALUES ({{source}}, {_H}, 1, '2026-11-24 10:00:00')",
    ],
    "0007": ["UPDATE app_user SET time_zone = 'Europe/Berlin'"],
    "0008": ["UPDATE source SET ca_pem = '-----BEGIN CERTIFICATE-----', verify_tls = FALSE"],
    "0009": ["UPDATE source SET recheck_wanted = 2, recheck_done = 1"],
    "0010": [
        "INSERT INTO worker (owner, host, pid, kind, concurrency, started_at, heartbeat_at,"
        " stopping) VALUES ('host-a:1', 'host-a', 1, 'worker', 2, '2026-12-01 08:00:00',"
        " '2026-12-01 08:00:30', FALSE)",
        "INSERT INTO watch (source_id, folder, owner, heartbeat_at, expires_at)"
        " VALUES ({source}, 'INBOX', 'host-a:1', '2026-12-01 08:00:30', '2026-12-01 08:01:30')",
    ],
    "0011": [
        "INSERT INTO oauth_state (key, kind, source_id, user_id, payload, created_at,"
        " expires_at) VALUES ('state-1', 'source', {source}, {app_user}, '{{}}',"
        " '2026-12-02 08:00:00', '2026-12-02 08:10:00')",
        "INSERT INTO login_key (key, stamps, used_at) VALUES ('k1', '[1.5, 2.5]', 2.5)",
        "INSERT INTO inbound_claim (source_id, key, owner, message_id, created_at)"
        f" VALUES ({{source}}, {_H}, NULL, {{message}}, '2026-12-02 09:00:00')",
    ],
}

_FIRST_ID = {
    t: f"(SELECT min(id) FROM {t})"
    for t in (
        "company",
        "source",
        "folder_state",
        "message",
        "document",
        "app_user",
        "webhook",
        "event",
    )
}


def write_rows_of(conn: sa.Connection, revision: str) -> None:
    """Write the rows of what *revision* added (nothing for a revision without new data)."""
    for sql in ROWS_OF.get(revision, []):
        conn.execute(sa.text(sql.format(**_FIRST_ID).replace(":", r"\:")))


def snapshot(conn: sa.Connection) -> dict[str, dict[str, list[object]]]:
    """Every table's rows (but alembic_version's), column by column, in primary key order."""
    meta = sa.MetaData()
    meta.reflect(conn)
    found: dict[str, dict[str, list[object]]] = {}
    for name, table in meta.tables.items():
        if name == "alembic_version":
            continue
        order = list(table.primary_key.columns) or list(table.c)
        rows = conn.execute(sa.select(table).order_by(*order)).mappings().all()
        found[name] = {c.name: [r[c.name] for r in rows] for c in table.c}
    return found


def lost_or_changed(
    before: dict[str, dict[str, list[object]]], after: dict[str, dict[str, list[object]]]
) -> list[str]:
    """The tables and columns of *before* whose values are not the same in *after* (a new
    column in *after* is not compared)."""
    problems = []
    for table, columns in before.items():
        if table not in after:
            problems.append(f"table {table} is gone")
            continue
        for column, values in columns.items():
            if column not in after[table]:
                problems.append(f"column {table}.{column} is gone")
            elif after[table][column] != values:
                problems.append(f"{table}.{column}: {values!r} became {after[table][column]!r}")
    return problems

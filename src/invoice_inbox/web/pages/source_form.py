"""The source form: what its fields send, turned into :mod:`~invoice_inbox.runtime.configure`'s
values, and a source's settings turned into what its fields show.

The fields are named as configure's (``configure.EDITABLE``); the page adds a few of its own:

- a checkbox has a hidden ``0`` before it and sends ``1`` when ticked, so a form that does not
  carry the field at all keeps the setting;
- the schedule is picked as ``schedule_kind`` (every / at / manual) with ``schedule_minutes``,
  or ``schedule_times`` and ``schedule_zone``, and becomes the schedule text ("every 30m",
  "at 05:00,12:00 Europe/Warsaw", "manual"); a plain ``schedule`` text is taken as it is;
- ``new_company`` names a company to create instead of the chosen ``company``;
- ``server_folders`` carries the folders the last connection check found, and
  ``server_counts`` (in the same order) how many mails each holds, so the folder checkboxes
  survive a re-rendered form;
- the port shows empty when it is the usual one for the security (and protocol): an empty
  port follows the security choice, a typed one stays;
- ``trusted_authserv_ids`` is a text, one id per line, filled with the provider preset's ids
  when the source follows the preset; sent back unchanged (or empty) it keeps following it.

Secrets (``password``, ``client_secret``) go to configure but never back into a form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.datastructures import FormData

from invoice_inbox.connectors import pop3, presets
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.json_types import SourceSettings
from invoice_inbox.runtime import configure, schedules, source_trust
from invoice_inbox.store.models import Source

CHECKBOXES = (
    "active",
    "verify_tls",
    "unread_only",
    "require_pdf",
    "allow_images",
    "import_body",
    "delete_after_import",
    "instant",
)
SECRETS = ("password", "client_secret")
LISTS = ("folders", "allowed_senders")
SCHEDULE_KINDS = ("every", "at", "manual")
TRUE = {"1", "on", "true", "yes"}


@dataclass
class Read:
    """A posted source form: the changes for configure, what the fields show again, and the
    problems found before configure is asked."""

    changes: SourceSettings
    shown: SourceSettings
    errors: dict[str, str] = field(default_factory=dict)
    server_folders: list[str] | None = None
    server_counts: dict[str, int | None] | None = None


def sentence(problem: Exception | str) -> str:
    """A problem as a sentence: capital first letter, one full stop."""
    text = str(problem).strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def schedule_parts(text: str) -> dict[str, str]:
    """The schedule fields for a schedule text."""
    parts = {
        "schedule": text,
        "schedule_kind": "every",
        "schedule_minutes": "60",
        "schedule_times": "",
        "schedule_zone": "UTC",
    }
    try:
        parsed = schedules.parse(text)
    except schedules.ScheduleError:
        return parts
    match parsed:
        case schedules.Every(minutes=n):
            parts["schedule_minutes"] = str(n)
        case schedules.At(times=times, zone=zone):
            parts |= {
                "schedule_kind": "at",
                "schedule_times": ", ".join(t.strftime("%H:%M") for t in times),
                "schedule_zone": zone,
            }
        case schedules.Manual():
            parts["schedule_kind"] = "manual"
    return parts


# a setting's value (of several types, as SourceSettings) as the form shows it
def _shown(name: str, value: Any) -> Any:
    if name in CHECKBOXES:
        return bool(value)
    if name == "folders":
        return list(value or [])
    if name in ("allowed_senders", "trusted_authserv_ids"):
        return "\n".join(value) if isinstance(value, list | tuple) else str(value or "")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def usual_port(protocol: str, security: str) -> int | None:
    """The port a server of *protocol* usually listens on with *security*."""
    ports = pop3.DEFAULT_PORTS if protocol == presets.POP3 else DEFAULT_PORTS
    return ports.get(security)


def from_values(values: SourceSettings) -> SourceSettings:
    """What the fields show for configure-style *values* (secrets left out)."""
    shown = {k: _shown(k, v) for k, v in values.items() if k not in SECRETS}
    port = values.get("port")
    if port and port == usual_port(str(values.get("protocol")), str(values.get("security"))):
        shown["port"] = ""  # the usual one: it follows the security choice
    shown |= schedule_parts(str(values.get("schedule") or "every 60m"))
    shown.setdefault("new_company", "")
    if values.get("trusted_authserv_ids") is None:  # it follows the preset: show the preset's
        preset_ids = source_trust.preset_authserv_ids(str(values.get("provider")))
        shown["trusted_authserv_ids"] = "\n".join(preset_ids)
    return shown


def from_source(src: Source) -> SourceSettings:
    """What the fields of *src*'s form show."""
    return from_values(configure.current(src))


def defaults(provider: str, company: str = "") -> SourceSettings:
    """What the fields of a new source of *provider* show (as ``configure.create`` would
    fill them in)."""
    preset = presets.PRESETS[provider]
    auth = preset.auths[0]
    return from_values(
        {
            "name": "",
            "company": company,
            "description": "",
            "active": True,
            "used_for": "supplier_invoices",
            "restricted_to_user_id": None,
            "restricted_to_role": None,
            "provider": provider,
            "protocol": preset.default_protocol(auth),
            "auth": auth,
            "host": preset.host or "",
            "port": preset.port,
            "security": preset.security,
            "ca_pem": "",
            "verify_tls": True,
            "username": "",
            "tenant_id": "",
            "client_id": "",
            "secret_expires": None,
            "shared_mailbox": "",
            "folders": ["INBOX"],
            "move_imported_to": "",
            "move_not_imported_to": "",
            "unread_only": False,
            "since": None,
            "allowed_senders": [],
            "sender_auth": source_trust.DEFAULT_MODE,
            "trusted_authserv_ids": None,
            "require_pdf": True,
            "allow_images": False,
            "import_body": False,
            "delete_after_import": False,
            "schedule": "every 60m",
            "instant": False,
            "max_failures": 5,
        }
    )


def _texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _schedule(form: FormData, shown: SourceSettings, errors: dict[str, str]) -> str | None:
    """The schedule text the schedule fields make; None when they are not on the form."""
    kind = (_texts(form, "schedule_kind") or [""])[-1].strip()
    if not kind:
        texts = _texts(form, "schedule")
        text = texts[-1] if texts else None
        if text is not None:
            shown |= schedule_parts(text)
        return text
    minutes = (_texts(form, "schedule_minutes") or [""])[-1].strip()
    times = (_texts(form, "schedule_times") or [""])[-1].strip()
    zone = (_texts(form, "schedule_zone") or [""])[-1].strip()
    shown |= {
        "schedule_kind": kind,
        "schedule_minutes": minutes,
        "schedule_times": times,
        "schedule_zone": zone,
    }
    picked, problems = schedules.from_fields(kind, minutes, times, zone)
    errors |= problems  # each next to its own field, all at once
    return None if picked is None else schedules.format(picked)


def _follow_preset(changes: SourceSettings, base: SourceSettings) -> None:
    """Trusted authserv-ids sent as the preset's own (as the field was filled) keep the source
    following its preset: they become empty, which configure reads as "the preset's"."""
    if "trusted_authserv_ids" not in changes:
        return
    provider = str(changes.get("provider") or base.get("provider") or "")
    try:
        typed = source_trust.authserv_ids(changes["trusted_authserv_ids"])
    except source_trust.BadSetting:
        return  # configure names the problem
    if typed is not None and typed == source_trust.preset_authserv_ids(provider):
        changes["trusted_authserv_ids"] = ""


def read(form: FormData, base: SourceSettings) -> Read:
    """The posted *form* as configure's changes; *base* is what the fields showed before."""
    changes: SourceSettings = {}
    shown = dict(base)
    errors: dict[str, str] = {}
    for name in configure.EDITABLE:
        values = _texts(form, name)
        if name == "schedule" or not values:
            continue
        if name in CHECKBOXES:
            changes[name] = values[-1].strip().lower() in TRUE
        elif name in LISTS:
            changes[name] = [line.strip() for v in values for line in v.splitlines()]
            changes[name] = [line for line in changes[name] if line]
        else:
            changes[name] = values[-1]
        if name not in SECRETS:
            shown[name] = _shown(name, changes[name])
    _follow_preset(changes, base)
    new_company = (_texts(form, "new_company") or [""])[-1].strip()
    shown["new_company"] = new_company
    if new_company:
        changes["company"] = new_company
    schedule = _schedule(form, shown, errors)
    if schedule is not None:
        changes["schedule"] = schedule
        shown["schedule"] = schedule
    found = _texts(form, "server_folders")
    counts = _texts(form, "server_counts")
    by_folder = None
    if found and len(counts) == len(found):
        by_folder = {f: int(n) if n.isdigit() else None for f, n in zip(found, counts, strict=True)}
    return Read(changes, shown, errors, found or None, by_folder)

"""A source's settings as plain data (``SourcePlan``), read once per run: its folders, filing
targets, decision policy and sender policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from invoice_inbox.connectors import presets
from invoice_inbox.pipeline.decide import Policy, Verdict
from invoice_inbox.pipeline.rules import Action, Rule
from invoice_inbox.store.models import Source, utcnow


@dataclass(frozen=True, kw_only=True)
class SourcePlan:
    """A source's settings as plain data, read once per run."""

    id: int
    name: str
    company_id: int
    company: str  # the company's name (for the events the run writes)
    folders: tuple[str, ...]
    move_imported_to: str | None
    move_not_imported_to: str | None
    unread_only: bool
    since: date | None
    delete_after_import: bool
    policy: Policy
    sender_auth: str = "flag"  # off | flag | require (pipeline.trust.policy)
    # the authserv-ids whose Authentication-Results the source believes (its own, else its
    # provider preset's)
    trusted_authserv_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, src: Source) -> SourcePlan:
        return cls(
            id=src.id,
            name=src.name,
            company_id=src.company_id,
            company=src.company.name,
            folders=tuple(src.folders or ["INBOX"]),
            move_imported_to=src.move_imported_to,
            move_not_imported_to=src.move_not_imported_to,
            unread_only=src.unread_only,
            since=src.since,
            delete_after_import=src.delete_after_import,
            policy=Policy(
                allowed_senders=tuple(src.allowed_senders or ()),
                require_attachment=src.require_attachment,
                require_pdf=src.require_pdf,
                allow_images=src.allow_images,
                body_fallback=src.body_fallback,
                rules=tuple(Rule(r.name, r.sender, r.keyword, Action(r.action)) for r in src.rules),
            ),
            sender_auth=src.sender_auth or "flag",
            trusted_authserv_ids=tuple(
                src.trusted_authserv_ids
                if src.trusted_authserv_ids is not None
                else getattr(presets.PRESETS.get(src.provider), "authserv_ids", ())
            ),
        )

    def target(self, verdict: str, when: datetime | None) -> str | None:
        """The folder a message with this verdict is filed to; ``{year}`` is the mail's year."""
        template = self.move_imported_to if verdict == Verdict.IMPORT else self.move_not_imported_to
        if not template:
            return None
        return template.replace("{year}", str((when or utcnow()).year))

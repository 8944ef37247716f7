"""Two ``fetch --all`` at once: a source whose lease another fetch holds is skipped with a note
(exit 0 when nothing failed), or waited for with ``--wait`` and then fetched. The lease is
held here as another worker holds it (``runtime.lease``), against a real Dovecot."""

from __future__ import annotations

import threading
import time

from builders import Attachment, make_mail, make_pdf
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources
from sync.conftest import AP


def _hold(ap: AP, name: str) -> tuple[App, int, str]:
    """Take *name*'s lease as another fetch would."""
    app = App.open(ap.data_dir)
    with app.db.session() as s:
        source_id = sources.get(s, name).id
    owner = lease.new_owner()
    lease.acquire(app.db, source_id, owner)
    return app, source_id, owner


def test_fetch_all_skips_a_busy_source_or_waits_for_it(ap: AP) -> None:
    ap.mailbox.append(
        "INBOX",
        make_mail(
            from_="billing@supplier.example",
            subject="invoice 1",
            attachments=[Attachment("invoice-1.pdf", make_pdf("invoice 1"))],
        ),
    )
    ap.add_source(name="acme-ap")
    app, source_id, owner = _hold(ap, "acme-ap")
    try:
        r = ap.run("fetch", "--all")
        assert r.code == 0, r.stdout + r.stderr
        assert "acme-ap: skipped, another fetch is running" in r.stdout + r.stderr
        assert "error" not in r.stderr
        assert ap.messages() == []  # nothing was fetched under the other's lease

        r = ap.run("fetch", "--all", "--json")
        assert r.code == 0
        assert r.json() == [
            {"source": "acme-ap", "status": "skipped", "reason": "another fetch is running"}
        ]

        # --wait: the other fetch ends a moment later, then this one runs
        released = threading.Event()

        def release_later() -> None:
            time.sleep(1.0)
            lease.release(app.db, source_id, owner)
            released.set()

        threading.Thread(target=release_later, daemon=True).start()
        r = ap.run("fetch", "--all", "--wait", "--json")
        assert released.is_set()
        assert r.code == 0, r.stdout + r.stderr
        [summary] = r.json()
        assert (summary["source"], summary["imported"]) == ("acme-ap", 1)
        assert "waiting for another fetch of acme-ap" in r.stderr
    finally:
        lease.release(app.db, source_id, owner)
        app.close()


def test_a_failed_source_still_fails_fetch_all(ap: AP) -> None:
    ap.add_source(name="acme-ap")
    ap.add_source(name="broken", port=1, security="none")  # nothing listens on port 1
    app, source_id, owner = _hold(ap, "acme-ap")
    try:
        r = ap.run("fetch", "--all")
        assert r.code == 1
        assert "acme-ap: skipped, another fetch is running" in r.stdout + r.stderr
        assert "error: broken:" in r.stderr
    finally:
        lease.release(app.db, source_id, owner)
        app.close()

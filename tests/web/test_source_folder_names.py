"""The source form's folder checkboxes on a server that names folders as Courier and Cyrus do
(``INBOX.`` with ``.``; ``harness.dovecot_prefixed``): folders are listed the user's way, and a
folder the source already names in the server's spelling stays ticked under that name, so what
is stored (and the ledger's rows for it) does not change (issue 18 item 1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from builders import make_mail
from harness.dovecot import Mailbox
from harness.dovecot_prefixed import PrefixedDovecot, started_prefixed_dovecot
from web.conftest import Browser, Web
from web.test_source_form_check import check
from web.test_web_sources import ADMIN, boxes, has_id, new_source

pytestmark = pytest.mark.dovecot


@pytest.fixture(scope="module")
def prefixed_dovecot() -> Iterator[PrefixedDovecot]:
    with started_prefixed_dovecot() as server:
        yield server


@pytest.fixture
def courier_box(prefixed_dovecot: PrefixedDovecot) -> Mailbox:
    user, password = prefixed_dovecot.new_user()
    return Mailbox(user=user, password=password, server=prefixed_dovecot)


@pytest.fixture
def admin(web: Web) -> Browser:
    web.user(ADMIN, "admin")
    return web.browser(ADMIN)


def test_folders_are_listed_the_users_way_and_saved_spellings_stay_ticked(
    admin: Browser, courier_box: Mailbox
) -> None:
    courier_box.append("INBOX.Suppliers", make_mail(subject="one"))
    courier_box.append("INBOX.Invoices.2026", make_mail(subject="two"))
    source_id = new_source(admin, courier_box, start=False, folders="INBOX.Suppliers")
    form = check(admin, source_id)
    assert not has_id(form, "folders-error")
    ticked = boxes(form, "folders")
    assert ticked["INBOX.Suppliers"] is True, "the saved spelling, ticked"
    assert ticked["Invoices/2026"] is False and ticked["INBOX"] is False
    assert "Suppliers" not in ticked and "INBOX.Invoices.2026" not in ticked

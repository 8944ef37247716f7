"""Setting up a mailbox on the screen, in a real browser against ``serve`` and the test
Dovecot: a mistyped host is found by "Check connection" and corrected before anything runs; the
folders are checkboxes with their mail counts; a source made here starts only with "Start
fetching"; a server with a private CA is trusted by loading its certificate from a file; the
port follows the security choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser.conftest import Served, shot
from browser.test_browser_admin import create_first_admin
from builders import make_mail
from harness.dovecot import Mailbox


def new_imap_source(page: Any, served: Served, mailbox: Mailbox, **typed: str) -> None:
    page.goto(served.url + "/sources/new?provider=imap")
    fields = {
        "#name": "acme-ap",
        "#new_company": "ACME",
        "#host": "127.0.0.1",
        "#port": str(mailbox.server.imap_port),
        "#username": mailbox.user,
        "#password": mailbox.password,
        **typed,
    }
    page.select_option("#security", "none")
    for selector, value in fields.items():
        page.fill(selector, value)


def test_a_mistyped_host_is_corrected_after_a_check_then_fetching_starts(
    page: Any, served: Served, mailbox: Mailbox
) -> None:
    imap = mailbox.imap()
    imap.create('"Rechnungen"')
    imap.logout()
    for i in range(2):
        mailbox.append("INBOX", make_mail(subject=f"mail {i}"))
    create_first_admin(page, served)
    new_imap_source(page, served, mailbox, **{"#host": "127.0.0.l"})  # the typo
    page.click("#save-source")
    page.wait_for_url("**/sources/*")
    assert page.locator("#source-status").inner_text() == "not started"
    assert page.locator("#start-fetching").count() == 0

    page.click("#check-connection")
    error = page.locator("#host-error")
    error.wait_for()
    assert "127.0.0.l" in error.inner_text() and "unknown host" in error.inner_text()
    shot(page, "20-setup-host-typo")

    # corrected on the form, unsaved: the saved password was given for the mistyped server,
    # so the check asks for it again, next to the password
    page.fill("#host", "127.0.0.1")
    page.click("#check-connection")
    page.locator("#password-error").wait_for()
    assert "type the password" in page.locator("#password-error").inner_text().lower()
    page.fill("#password", mailbox.password)
    page.click("#check-connection")
    page.locator("#check-result").wait_for()
    folders = page.locator("#folders")
    assert "INBOX (2 mails)" in " ".join(folders.inner_text().split())
    assert "Rechnungen (0 mails)" in " ".join(folders.inner_text().split())
    assert page.locator("#folders input[value=INBOX]").is_checked()
    assert page.input_value("#password") == mailbox.password  # kept across the check
    page.check("#folders input[value=Rechnungen]")
    shot(page.locator("#folder-settings"), "21-setup-folder-checkboxes")
    shot(page, "21-setup-checked")

    page.click("#start-fetching")
    page.wait_for_load_state()
    assert page.locator("#form-errors").count() == 0
    assert page.locator("#source-status").inner_text() == "active"
    assert page.input_value("#host") == "127.0.0.1"
    page.goto(served.url + "/sources")
    assert "active" in page.locator("#sources tbody tr").first.inner_text()
    shot(page, "22-setup-started")


def test_a_private_ca_is_loaded_from_a_file_and_the_port_follows_security(
    page: Any, served: Served, mailbox: Mailbox, tmp_path: Path
) -> None:
    srv = mailbox.server
    create_first_admin(page, served)
    new_imap_source(page, served, mailbox, **{"#host": "localhost", "#port": ""})
    assert page.get_attribute("#port", "placeholder") == "143"  # security none
    page.select_option("#security", "starttls")
    assert page.get_attribute("#port", "placeholder") == "143"
    page.select_option("#security", "ssl")
    assert page.get_attribute("#port", "placeholder") == "993"
    page.fill("#port", str(srv.imaps_port))
    page.click("#save-source")
    page.wait_for_url("**/sources/*")
    assert page.input_value("#port") == str(srv.imaps_port)

    page.click("#check-connection")
    error = page.locator("#ca_pem-error")
    error.wait_for()
    assert "add its CA certificate" in error.inner_text()
    shot(page, "23-setup-private-ca-refused")

    pem = tmp_path / "acme-root.pem"
    pem.write_text(srv.ca_file.read_text())
    page.set_input_files("#ca_file_upload", str(pem))
    page.wait_for_function("document.getElementById('ca_pem').value.includes('BEGIN')")
    page.click("#check-connection")  # a new CA: the saved password is not sent with it
    assert "type the password" in page.locator("#password-error").inner_text().lower()
    page.fill("#password", mailbox.password)
    page.click("#check-connection")
    page.locator("#check-result").wait_for()
    shot(page.locator("#connection"), "24-setup-private-ca-trusted")
    page.click("#save-source")
    page.wait_for_load_state()
    assert page.locator("#form-errors").count() == 0
    assert "Trusted: CN=" in page.inner_text("#tls-trust")

    # an empty port follows the security: STARTTLS saves 143
    page.fill("#port", "")
    page.select_option("#security", "starttls")
    page.fill("#password", mailbox.password)
    page.click("#save-source")
    page.wait_for_load_state()
    assert page.input_value("#port") == ""  # the usual one for STARTTLS: 143
    assert page.get_attribute("#port", "placeholder") == "143"

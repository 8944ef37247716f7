"""Who sent a mail to the import address, as the receiver sees it: real SMTP clients (smtplib)
bound to several addresses in 127.0.0.0/8, a real DNS server (``dns_server``) publishing SPF,
DKIM keys and DMARC for the test domains, and the receiver's own ``Authentication-Results``.

SPF pass from the allowed address and fail/softfail from another; a DKIM-signed mail passing;
the issue's spoofed mail (``MAIL FROM:<attacker@evil.test>``, ``From: billing@supplier.test``,
supplier.test publishing ``p=reject``) refused 550 under ``require`` and stored with dmarc=fail
under ``flag``; a forged ``Authentication-Results`` with our authserv-id removed (another's kept);
a client's mails a minute (421) and a company's daily cap (452); the header rewriting itself."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable, Iterator

import authres
import pytest

from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from invoice_inbox.connectors.smtp_arrival import (
    Arrival,
    Terms,
    authserv_id_of,
    forged_removed,
    with_results,
)
from invoice_inbox.connectors.smtp_inbound import InboundServer, InboundSettings
from invoice_inbox.pipeline.trust.result import AuthStatus, Envelope, SenderAuth

DOMAIN = "invoices.test"
ACME, GLOBEX = f"acme@{DOMAIN}", f"globex@{DOMAIN}"
SUPPLIER = "billing@supplier.test"


def mail(
    from_: str = SUPPLIER, *, extra: str = "", subject: str = "Invoice 4711", body: str = ""
) -> bytes:
    return (
        f"{extra}From: Billing <{from_}>\r\nTo: {ACME}\r\nSubject: {subject}\r\n"
        "Message-ID: <inv-4711@supplier.test>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Please find invoice 4711 attached.\r\n{body}"
    ).encode()


class Store:
    """resolve(), terms() and deliver() for the server, recording what deliver() got."""

    def __init__(self) -> None:
        self.sources = {ACME: "acme", GLOBEX: "globex"}
        self.policy = {"acme": "flag", "globex": "flag"}
        self.over_cap: dict[str, str] = {}
        self.delivered: list[tuple[str, Arrival]] = []
        self._lock = threading.Lock()

    def resolve(self, address: str) -> str | None:
        return self.sources.get(address)

    def terms(self, key: str) -> Terms:
        return Terms(self.policy[key], self.over_cap.get(key))

    def deliver(self, key: str, arrival: Arrival) -> None:
        with self._lock:
            self.delivered.append((key, arrival))

    def only(self) -> Arrival:
        assert len(self.delivered) == 1
        return self.delivered[0][1]


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def serve(store: Store) -> Iterator[Callable[..., InboundServer]]:
    started: list[InboundServer] = []

    def start(authenticate: object = None, **settings: object) -> InboundServer:
        options: dict[str, object] = {"port": 0, "domain": DOMAIN, "hostname": "mx.invoices.test"}
        options.update(settings)
        server = InboundServer(
            InboundSettings(**options),  # type: ignore[arg-type]
            store.resolve,
            store.deliver,
            terms=store.terms,
            authenticate=authenticate,  # type: ignore[arg-type]
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(timeout=5)


@pytest.fixture
def zone(dns_server: DnsServer) -> DnsServer:
    """supplier.test: SPF allows 127.0.0.2 only, DMARC p=reject; other.test: SPF ~all, no
    DMARC; evil.test: SPF allows 127.0.0.9 (the attacker's own address)."""
    dns_server.add("supplier.test", "TXT", "v=spf1 ip4:127.0.0.2 -all")
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject; adkim=r; aspf=r")
    dns_server.add("other.test", "TXT", "v=spf1 ip4:127.0.0.2 ~all")
    dns_server.add("evil.test", "TXT", "v=spf1 ip4:127.0.0.9 -all")
    return dns_server


def send(
    server: InboundServer,
    raw: bytes,
    *,
    source: str = "127.0.0.2",
    mail_from: str = SUPPLIER,
    to: tuple[str, ...] = (ACME,),
    helo: str = "mx.supplier.test",
) -> tuple[int, bytes]:
    """One transaction from *source*: the reply to DATA (or the refusal before it)."""
    with smtplib.SMTP(
        "127.0.0.1", server.port, local_hostname=helo, source_address=(source, 0), timeout=30
    ) as c:
        c.ehlo()
        code, text = c.mail(mail_from)
        if code != 250:
            return code, text
        for rcpt in to:
            code, text = c.rcpt(rcpt)
            if code != 250:
                return code, text
        return c.data(raw)


def results(stored: bytes) -> authres.AuthenticationResultsHeader:
    """Our Authentication-Results header, on top of the stored mail, parsed."""
    first = stored.split(b"\r\n\r\n", 1)[0].decode()
    assert first.startswith(f"Authentication-Results: {DOMAIN};")
    field = first.split("\r\n")[0]
    for line in first.split("\r\n")[1:]:
        if not line[:1].isspace():
            break
        field += "\r\n" + line
    return authres.AuthenticationResultsHeader.parse(field)


def result_of(header: authres.AuthenticationResultsHeader, method: str) -> str:
    found = [r.result for r in header.results if r.method == method]
    assert found, f"no {method} result in {header}"
    return str(found[0])


# -- SPF, DKIM, DMARC over a real connection ----------------------------------------------


def test_spf_pass_from_the_allowed_address(
    serve: Callable[..., InboundServer], store: Store, zone: DnsServer
) -> None:
    server = serve(dns_server=zone.address)
    raw = mail()
    assert send(server, raw, source="127.0.0.2")[0] == 250
    arrival = store.only()
    assert arrival.envelope == Envelope("127.0.0.2", "mx.supplier.test", SUPPLIER)
    assert arrival.received == raw and arrival.raw.endswith(raw)
    header = results(arrival.raw)
    assert result_of(header, "spf") == "pass"
    assert result_of(header, "dmarc") == "pass"
    assert arrival.auth is not None and arrival.auth.status is AuthStatus.PASS
    assert arrival.auth.results["envelope"] == {  # kept with the results, for the ledger
        "client_ip": "127.0.0.2",
        "helo": "mx.supplier.test",
        "mail_from": SUPPLIER,
    }


@pytest.mark.parametrize(
    ("domain", "expected"), [("supplier.test", "fail"), ("other.test", "softfail")]
)
def test_spf_fail_and_softfail_from_another_address(
    serve: Callable[..., InboundServer], store: Store, zone: DnsServer, domain: str, expected: str
) -> None:
    server = serve(dns_server=zone.address)
    sender = f"billing@{domain}"
    assert send(server, mail(sender), source="127.0.0.3", mail_from=sender)[0] == 250
    assert result_of(results(store.only().raw), "spf") == expected
    assert store.only().envelope.client_ip == "127.0.0.3"


def test_dkim_signed_mail_passes_from_any_address(
    serve: Callable[..., InboundServer], store: Store, zone: DnsServer
) -> None:
    key = DkimKey.generate("supplier.test", "s1")
    key.publish(zone)
    signed = key.sign(mail())
    server = serve(dns_server=zone.address)
    # relayed by another server: SPF fails, the aligned signature proves the sender
    assert send(server, signed, source="127.0.0.4", mail_from="bounce@relay.test")[0] == 250
    header = results(store.only().raw)
    assert result_of(header, "dkim") == "pass"
    assert result_of(header, "dmarc") == "pass"
    assert store.only().auth.status is AuthStatus.PASS  # type: ignore[union-attr]


SPOOF = {"source": "127.0.0.9", "mail_from": "attacker@evil.test", "helo": "mail.evil.test"}


def test_spoofed_mail_is_refused_550_under_require(
    serve: Callable[..., InboundServer], store: Store, zone: DnsServer
) -> None:
    store.policy["acme"] = "require"
    server = serve(dns_server=zone.address)
    code, text = send(server, mail(), **SPOOF)  # type: ignore[arg-type]
    assert code == 550
    assert text.startswith(b"5.7.1 this mail fails DMARC: From domain supplier.test publishes")
    assert b"p=reject; no aligned SPF or DKIM" in text
    assert store.delivered == []
    assert server.received == 0


def test_spoofed_mail_is_taken_with_dmarc_fail_under_flag(
    serve: Callable[..., InboundServer], store: Store, zone: DnsServer
) -> None:
    server = serve(dns_server=zone.address)
    assert send(server, mail(), **SPOOF)[0] == 250  # type: ignore[arg-type]
    arrival = store.only()
    assert result_of(results(arrival.raw), "dmarc") == "fail"
    assert arrival.auth is not None and arrival.auth.status is AuthStatus.FAIL
    assert arrival.auth.dmarc_policy == "reject"


def test_spoofed_mail_to_a_flag_and_a_require_source_goes_to_both(
    serve: Callable[..., InboundServer], store: Store, zone: DnsServer
) -> None:
    """One reply serves every recipient: refused only when all of them require; otherwise each
    source's policy files it (under require: not imported, with the reason)."""
    store.policy["globex"] = "require"
    server = serve(dns_server=zone.address)
    assert send(server, mail(), to=(ACME, GLOBEX), **SPOOF)[0] == 250  # type: ignore[arg-type]
    assert sorted(k for k, _ in store.delivered) == ["acme", "globex"]


def test_forged_authentication_results_with_our_id_is_removed(
    serve: Callable[..., InboundServer], store: Store, zone: DnsServer
) -> None:
    forged = (
        f"Authentication-Results: {DOMAIN.upper()}; spf=pass smtp.mailfrom=supplier.test;\r\n"
        "\tdkim=pass header.d=supplier.test; dmarc=pass header.from=supplier.test\r\n"
        "Authentication-Results: (our friends) mx.elsewhere.test; dmarc=pass\r\n"
    )
    server = serve(dns_server=zone.address)
    assert send(server, mail(extra=forged), **SPOOF)[0] == 250  # type: ignore[arg-type]
    stored = store.only().raw
    assert stored.count(DOMAIN.upper().encode()) == 0
    assert stored.count(b"Authentication-Results:") == 2  # ours and the other server's
    assert b"mx.elsewhere.test; dmarc=pass" in stored
    assert result_of(results(stored), "dmarc") == "fail"


def test_authserv_id_is_configurable(
    serve: Callable[..., InboundServer], store: Store, zone: DnsServer
) -> None:
    server = serve(dns_server=zone.address, authserv_id="mx1.invoices.test")
    assert send(server, mail())[0] == 250
    assert store.only().raw.startswith(b"Authentication-Results: mx1.invoices.test;")


# -- the receiver's answers with a stand-in check (no DNS) ---------------------------------


def fails_dmarc(policy: str) -> Callable[[bytes, Envelope], tuple[SenderAuth, str]]:
    def check(raw: bytes, envelope: Envelope) -> tuple[SenderAuth, str]:
        auth = SenderAuth(
            AuthStatus.FAIL,
            "From domain supplier.test publishes DMARC p=reject; no aligned SPF or DKIM",
            from_domain="supplier.test",
            dmarc_policy=policy,
            results={"dmarc": {"result": "fail"}},
        )
        return auth, f"{DOMAIN}; dmarc=fail header.from=supplier.test"

    return check


@pytest.mark.parametrize(
    ("dmarc", "policy", "code"),
    [
        ("reject", "require", 550),
        ("quarantine", "require", 250),  # p=quarantine (or p=reject sampled out by pct)
        ("reject", "flag", 250),
        ("reject", "off", 250),
    ],
)
def test_550_only_for_dmarc_reject_under_require(
    serve: Callable[..., InboundServer], store: Store, dmarc: str, policy: str, code: int
) -> None:
    store.policy["acme"] = policy
    server = serve(fails_dmarc(dmarc))
    assert send(server, mail())[0] == code


def test_a_check_that_raises_leaves_the_mail_unchecked(
    serve: Callable[..., InboundServer], store: Store
) -> None:
    def broken(raw: bytes, envelope: Envelope) -> tuple[SenderAuth, str]:
        raise RuntimeError("resolver exploded")

    store.policy["acme"] = "require"
    server = serve(broken)
    forged = f"Authentication-Results: {DOMAIN}; dmarc=pass\r\n"
    assert send(server, mail(extra=forged))[0] == 250
    arrival = store.only()
    assert arrival.auth is None and arrival.raw == mail()  # the forged one removed all the same


def test_client_over_its_mails_a_minute_gets_421(
    serve: Callable[..., InboundServer], store: Store
) -> None:
    server = serve(check_senders=False, mails_per_client=3)
    for _ in range(3):
        assert send(server, mail())[0] == 250
    code, text = send(server, mail())
    assert code == 421
    assert text == b"4.7.0 too many mails from your address in the last minute, try later"
    assert send(server, mail(), source="127.0.0.3")[0] == 250  # another client is not held up
    assert len(store.delivered) == 4


def test_company_over_its_daily_cap_gets_452_at_rcpt(
    serve: Callable[..., InboundServer], store: Store
) -> None:
    store.over_cap["acme"] = "this import address took its 2 mails for today, try tomorrow"
    server = serve(check_senders=False)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        refused = c.sendmail(SUPPLIER, [ACME, GLOBEX], mail())
    assert refused == {
        ACME: (
            452,
            f"4.2.2 <{ACME}>: this import address took its 2 mails for today,"
            " try tomorrow".encode(),
        )
    }
    assert [k for k, _ in store.delivered] == ["globex"]


# -- the header section ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" invoices.test; spf=pass", "invoices.test"),
        ("INVOICES.TEST.; none", "invoices.test"),
        (" (comment (nested)) invoices.test 1; dkim=pass", "invoices.test"),
        ('\r\n\t"invoices.test"; dmarc=pass', "invoices.test"),
        ("invoices.test;dmarc=pass", "invoices.test"),
        ("   ", None),
        (" mx.google.com; spf=pass", "mx.google.com"),
    ],
)
def test_authserv_id_of(value: str, expected: str | None) -> None:
    assert authserv_id_of(value) == expected


def test_only_fields_claiming_our_id_are_removed_and_every_other_byte_kept() -> None:
    head = (
        b"Received: from a by b;\r\n\tSat, 05 Dec 2026 10:00:00 +0000\r\n"
        b"authentication-results:invoices.test; dmarc=pass\r\n"
        b"Authentication-Results: mx.google.com;\r\n dmarc=pass header.from=supplier.test\r\n"
        b"Authentication-Results : (x)\r\n invoices.test;\r\n\tspf=pass\r\n"
        b"X-Authentication-Results: invoices.test; kept, another field\r\n"
        b"Subject: Authentication-Results: invoices.test; in the subject\r\n"
    )
    body = b"\r\nAuthentication-Results: invoices.test; in the body, kept\r\n"
    cleaned, dropped = forged_removed(head + body, "invoices.test")
    assert dropped == 2
    assert (
        cleaned
        == (
            b"Received: from a by b;\r\n\tSat, 05 Dec 2026 10:00:00 +0000\r\n"
            b"Authentication-Results: mx.google.com;\r\n dmarc=pass header.from=supplier.test\r\n"
            b"X-Authentication-Results: invoices.test; kept, another field\r\n"
            b"Subject: Authentication-Results: invoices.test; in the subject\r\n"
        )
        + body
    )
    assert forged_removed(head + body, "other.test") == (head + body, 0)


def test_our_header_is_folded_on_top_with_the_mails_line_ends() -> None:
    value = (
        'invoices.test; spf=pass smtp.mailfrom=a@b.test; dkim=pass reason="x; y" (a; b); dmarc=pass'
    )
    stored = with_results(b"Subject: x\r\n\r\nbody\r\n", "invoices.test", value)
    assert stored == (
        b"Authentication-Results: invoices.test;\r\n\tspf=pass smtp.mailfrom=a@b.test;\r\n"
        b'\tdkim=pass reason="x; y" (a; b);\r\n\tdmarc=pass\r\n'
        b"Subject: x\r\n\r\nbody\r\n"
    )
    bare = with_results(b"Subject: x\n\nbody\n", "invoices.test", "invoices.test; none")
    assert bare == b"Authentication-Results: invoices.test;\n\tnone\nSubject: x\n\nbody\n"

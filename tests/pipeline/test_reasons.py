"""Decision reasons as codes with parameters (issue 20): each place that decides makes the code
and parameters of its reason, the English text stays what it always was, and the same parts
read in another language through the catalogue (a test catalogue here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_pdf
from invoice_inbox import reasons
from invoice_inbox.i18n import use_locale
from invoice_inbox.pipeline.decide import Decision, Policy, Verdict, decide
from invoice_inbox.pipeline.rules import Rule
from invoice_inbox.pipeline.trust import policy
from invoice_inbox.pipeline.trust.result import AuthStatus, SenderAuth
from invoice_inbox.reasons import ReasonPart, part
from invoice_inbox.runtime.workers import quarantined
from translated import install

SENDER = "billing@supplier.test"
PDF = make_pdf("Invoice 4711")


def mail(attachments: list[Attachment] | None = None, **kw: str) -> bytes:
    if attachments is None:
        attachments = [Attachment("INV-4711.pdf", PDF)]
    return make_mail(from_=kw.pop("from_", SENDER), attachments=attachments, **kw)  # type: ignore[arg-type]


def said(d: Decision) -> list[tuple[str, dict[str, object]]]:
    """The decision's parts, and a check that its English text is made of them."""
    assert reasons.english(d.reason_parts) == d.reason
    return [(p.code, dict(p.params)) for p in d.reason_parts]


def test_imported_names_its_documents_with_the_plural_at_render() -> None:
    one = decide(mail())
    assert one.reason == f"1 document from {SENDER}: INV-4711.pdf"
    assert said(one) == [
        ("documents_found", {"count": 1, "sender": SENDER, "names": "INV-4711.pdf"})
    ]
    two = decide(mail([Attachment("a.pdf", PDF), Attachment("b.pdf", make_pdf("2"))]))
    assert two.reason == f"2 documents from {SENDER}: a.pdf, b.pdf"
    assert reasons.reason_code(two.reason_parts) == "documents_found"


@pytest.mark.parametrize(
    ("raw", "settings", "code", "params", "english"),
    [
        (
            mail(from_="x@y.test"),
            Policy(allowed_senders=("*@supplier.test",)),
            "sender_not_allowed",
            {"sender": "x@y.test"},
            "sender x@y.test is not on the allowed list",
        ),
        (mail([]), Policy(), "no_attachment", {}, "no attachment"),
        (
            mail([Attachment("notes.txt", b"hello", content_type="text/plain")]),
            Policy(),
            "no_document_found",
            {"names": "notes.txt"},
            "no PDF or e-invoice attachment (found: notes.txt)",
        ),
    ],
    ids=["not-allowed", "no-attachment", "no-document"],
)
def test_each_check_says_its_code_and_parameters(
    raw: bytes, settings: Policy, code: str, params: dict[str, object], english: str
) -> None:
    d = decide(raw, settings)
    assert said(d) == [(code, params)]
    assert d.reason == english


def test_too_big_keeps_its_english_figures() -> None:
    raw = mail()
    d = decide(raw, Policy(max_message_bytes=1000))
    size = len(raw) / 1024 / 1024
    assert d.verdict is Verdict.QUARANTINED
    assert d.reason == f"the message is {size:,.1f} MB; the limit is {1000 / 1024 / 1024:,.1f} MB"
    assert said(d) == [("message_too_big", {"size": size, "limit": 1000 / 1024 / 1024})]


def test_a_rule_prefixes_and_a_skip_rule_names_itself() -> None:
    skip = Rule.make("Newsletters", "*@supplier.test", action="skip")
    d = decide(mail(), Policy(rules=(skip,)))
    assert d.reason == "rule 'Newsletters' says not to import mail like this"
    assert said(d) == [("rule_skip", {"rule": "Newsletters"})]
    take = Rule.make("Supplier", "*@supplier.test")
    d = decide(mail([]), Policy(rules=(take,)))
    assert d.reason == "rule 'Supplier': no attachment"
    assert said(d) == [("rule", {"rule": "Supplier"}), ("no_attachment", {})]
    assert reasons.reason_code(d.reason_parts) == "no_attachment"


def test_the_sender_policy_adds_its_parts() -> None:
    d = decide(mail())
    failed = SenderAuth(AuthStatus.FAIL, "no aligned SPF or DKIM", "supplier.test")
    flagged = policy.apply(d, failed, mode="flag", lookalike_of="supplier.example")
    assert flagged.reason == (
        f"{d.reason}; sender not authenticated: no aligned SPF or DKIM;"
        " From domain supplier.test looks like supplier.example"
    )
    assert said(flagged)[1:] == [
        ("sender_not_authenticated", {"why": "no aligned SPF or DKIM"}),
        ("lookalike", {"domain": "supplier.test", "known": "supplier.example"}),
    ]
    refused = policy.apply(d, failed, mode="require")
    assert said(refused) == [
        ("sender_refused", {"sender": SENDER, "why": "no aligned SPF or DKIM"})
    ]
    dns = SenderAuth(AuthStatus.TEMPERROR, "DNS did not answer; try again later", "supplier.test")
    assert said(policy.apply(d, dns, mode="require")) == [
        ("sender_dns_failed", {"sender": SENDER, "detail": "DNS did not answer"})
    ]
    blocked = policy.apply(d, None, mode="off", blocked={"supplier.test": "marked as fraud"})
    assert blocked.reason == "sender domain supplier.test is blocked: marked as fraud"
    assert said(blocked) == [
        ("sender_blocked", {"domain": "supplier.test", "why": "marked as fraud"})
    ]


def test_the_workers_quarantine_with_codes() -> None:
    d = quarantined(mail(), part("not_processed"), part("worker_memory", mb=512))
    assert d.reason == "could not be processed: exceeded the memory limit (512 MB)"
    assert reasons.reason_code(d.reason_parts) == "not_processed"
    twice = quarantined(mail(), part("stopped_twice"))
    assert twice.reason == "could not be processed (stopped the worker twice)"


def test_parts_go_to_json_and_back_with_a_reason_inside_one() -> None:
    original = decide(mail()).reason_parts
    copy = (part("duplicate", original=original),)
    text = f"the same message was already handled ({reasons.english(original)})"
    assert reasons.english(copy) == text
    stored = reasons.to_json(copy)
    assert stored[0]["params"]["original"] == reasons.to_json(original)
    assert reasons.from_json(stored) == copy
    assert reasons.text("old English", stored) == text
    old = (part("duplicate", original="1 document from a@b.test: x.pdf"),)  # before codes
    assert (
        reasons.english(old)
        == "the same message was already handled (1 document from a@b.test: x.pdf)"
    )
    assert reasons.text("decided before 0015", None) == "decided before 0015"
    assert reasons.from_json([{"code": "no-such-code", "params": {}}, "junk"]) == ()


def test_every_code_renders_with_its_parameters() -> None:
    with pytest.raises(KeyError):
        ReasonPart("no-such-code")
    params = {
        "size": 1.5, "limit": 2.0, "sender": "a@b.test", "rule": "R", "names": "x.pdf",
        "detail": "d", "error": "e", "check": "documents", "domain": "b.test", "why": "w",
        "known": "k.test", "original": "o", "message_id": "<m@b>", "files": (), "file": "f",
        "original_id": 7, "mb": 512, "seconds": 60, "signal": 9, "name": "SIGKILL",
        "status": "1", "by": "ann", "date": "2026-12-05", "count": 2,
    }  # fmt: skip
    for code in reasons.TEMPLATES:
        out = reasons.english([ReasonPart(code, params)])
        assert "%(" not in out, code


def test_a_reason_reads_in_the_readers_language(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(
        monkeypatch,
        tmp_path,
        "de",
        {
            "sender %(sender)s is not on the allowed list": (
                "Absender %(sender)s steht nicht auf der Liste der zulässigen Absender"
            ),
            "the message is %(size)s MB; the limit is %(limit)s MB": (
                "die Nachricht hat %(size)s MB; die Grenze ist %(limit)s MB"
            ),
            "rule %(rule)s": "Regel %(rule)s",
            "no attachment": "kein Anhang",
        },
    )
    install(
        monkeypatch,
        tmp_path,
        "pl",
        {
            (
                "%(count)s document from %(sender)s: %(names)s",
                "%(count)s documents from %(sender)s: %(names)s",
            ): (
                "%(count)s dokument od %(sender)s: %(names)s",
                "%(count)s dokumenty od %(sender)s: %(names)s",
                "%(count)s dokumentów od %(sender)s: %(names)s",
            )
        },
    )
    refused = decide(mail(from_="x@y.test"), Policy(allowed_senders=("*@supplier.test",)))
    with use_locale("de"):
        assert reasons.localized(refused.reason_parts) == (
            "Absender x@y.test steht nicht auf der Liste der zulässigen Absender"
        )
        big = (part("message_too_big", size=1234.5, limit=150.0),)
        assert reasons.localized(big) == "die Nachricht hat 1.234,5 MB; die Grenze ist 150,0 MB"
        ruled = (part("rule", rule="Lieferant"), part("no_attachment"))
        assert reasons.text("x", reasons.to_json(ruled)) == "Regel 'Lieferant': kein Anhang"
    assert reasons.english(refused.reason_parts) == refused.reason  # English stays
    with use_locale("pl"):
        for n, word in ((1, "dokument"), (3, "dokumenty"), (5, "dokumentów")):
            found = (reasons.documents_found(n, "a@b.test", "x.pdf"),)
            assert reasons.localized(found) == f"{n} {word} od a@b.test: x.pdf"

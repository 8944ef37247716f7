"""Import rules and source options from the command line: added in order, listed, removed, used
by the next fetch; mistakes are one sentence and a non-zero exit."""

from __future__ import annotations

from builders import Attachment, make_mail, make_pdf
from conftest import AP


def test_rules_are_kept_in_order_and_mistakes_are_one_sentence(ap: AP) -> None:
    ap.add_source()
    ap.ok("rule", "add", "ap", "no-ads", "--sender", "*@ads.example", "--action", "skip")
    ap.ok(
        "rule", "add", "ap", "hoster", "--sender", "Billing@Hoster.example", "--keyword", "Rechnung"
    )
    rules = ap.ok("rule", "list", "ap", "--json").json()
    assert rules == [
        {"name": "no-ads", "sender": "*@ads.example", "keyword": None, "action": "skip"},
        {
            "name": "hoster",
            "sender": "billing@hoster.example",
            "keyword": "Rechnung",
            "action": "attachments",
        },
    ]
    assert [r["name"] for r in ap.ok("source", "show", "ap", "--json").json()["rules"]] == [
        "no-ads",
        "hoster",
    ]
    for args, sentence in [
        (("rule", "add", "ap", "no-ads", "--sender", "*@x.example"), "has a rule named"),
        (("rule", "add", "ap", "bad", "--sender", "nobody"), "is not an address"),
        (("rule", "add", "nosuch", "r", "--sender", "*@x.example"), 'no source named "nosuch"'),
        (("rule", "remove", "ap", "ghost"), 'no rule named "ghost"'),
        (("rule", "add", "ap", "r", "--sender", "a@b.example", "--action", "burn"), "burn"),
    ]:
        r = ap.run(*args)
        assert r.code != 0, args
        assert sentence in r.stderr + r.stdout, (args, r)
        assert "Traceback" not in r.stderr
    ap.ok("rule", "remove", "ap", "no-ads")
    assert [r["name"] for r in ap.ok("rule", "list", "ap", "--json").json()] == ["hoster"]


def test_fetch_applies_rules_and_source_options(ap: AP) -> None:
    pdf = make_pdf("ad")
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    ap.mailbox.append(
        "INBOX",
        make_mail(from_="news@ads.example", attachments=[Attachment("ad.pdf", pdf)]),
    )
    ap.mailbox.append(
        "INBOX",
        make_mail(subject="scan", attachments=[Attachment("scan.png", png, "image/png")]),
    )
    ap.mailbox.append(
        "INBOX",
        make_mail(subject="Invoice 12 in the text", body="Amount due: 12.00 EUR"),
    )
    ap.add_source()
    ap.ok("rule", "add", "ap", "no-ads", "--sender", "*@ads.example", "--action", "skip")
    ap.ok("source", "set", "ap", "--allow-images", "--import-body")
    shown = ap.ok("source", "show", "ap", "--json").json()
    assert shown["allow_images"] is True and shown["import_body"] is True
    ap.ok("fetch", "ap")

    by_subject = {m["subject"]: m for m in ap.messages()}
    ad = by_subject["Invoice 1"]
    assert ad["decision"] == "not_imported" and "no-ads" in ad["reason"]
    docs = {d["filename"]: d for d in ap.documents()}
    assert docs["scan.png"]["kind"] == "image"
    assert docs["Invoice 12 in the text.pdf"]["kind"] == "body_pdf"
    assert ap.run("source", "set", "ap").code == 1

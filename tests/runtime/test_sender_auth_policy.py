"""The sender policy on a decision (``pipeline.trust.policy``): off records, flag marks, require
refuses unauthenticated mail and says why; a blocked From domain is never imported; a look-alike
From domain says which domain it imitates."""

from __future__ import annotations

import pytest

from builders import Attachment, make_mail, make_pdf
from invoice_inbox.pipeline.decide import Decision, Policy, Verdict, decide
from invoice_inbox.pipeline.trust import policy
from invoice_inbox.pipeline.trust.result import AuthStatus, SenderAuth
from invoice_inbox.reasons import english

SENDER = "billing@supplier.test"
REJECT = "From domain supplier.test publishes DMARC p=reject; no aligned SPF or DKIM"
PASSED = SenderAuth(
    AuthStatus.PASS, "DKIM signature by supplier.test verified; DMARC pass", "supplier.test"
)
FAILED = SenderAuth(AuthStatus.FAIL, REJECT, "supplier.test", dmarc_policy="reject")
NOTHING = SenderAuth(AuthStatus.NONE, "no DKIM signature; no SPF or DMARC results", "supplier.test")
DNS_DOWN = SenderAuth(AuthStatus.TEMPERROR, "DNS did not answer for supplier.test", "supplier.test")


def invoice_decision(sender: str = SENDER, *, allowed: tuple[str, ...] = ()) -> Decision:
    raw = make_mail(
        from_=sender, subject="Invoice 1", attachments=[Attachment("a.pdf", make_pdf("1"))]
    )
    return decide(raw, Policy(allowed_senders=allowed))


def test_off_records_the_result_and_changes_nothing() -> None:
    d = invoice_decision()
    out = policy.apply(d, FAILED, mode="off")
    assert (out.verdict, out.reason, out.documents) == (Verdict.IMPORT, d.reason, d.documents)
    assert out.sender_auth == FAILED
    assert out.misses[-1] == "sender-auth" and out.hits == ()


def test_flag_imports_and_says_the_sender_is_not_authenticated() -> None:
    d = invoice_decision()
    out = policy.apply(d, FAILED, mode="flag")
    assert out.verdict is Verdict.IMPORT and out.documents == d.documents
    assert out.reason == f"{d.reason}; sender not authenticated: {REJECT}"
    assert policy.apply(d, PASSED, mode="flag").reason == d.reason


@pytest.mark.parametrize("auth", [FAILED, NOTHING, None], ids=["fail", "none", "not-run"])
def test_require_refuses_an_unauthenticated_sender_with_the_reason(
    auth: SenderAuth | None,
) -> None:
    d = invoice_decision(allowed=("*@supplier.test",))  # allowed, but not proven
    out = policy.apply(d, auth, mode="require")
    assert out.verdict is Verdict.NOT_IMPORTED and out.documents == ()
    why = auth.reason if auth else "sender authentication did not run"
    assert out.reason == f"sender {SENDER} is not authenticated: {why}"
    assert out.hits == ("sender-auth",)


def test_require_imports_an_authenticated_sender() -> None:
    d = invoice_decision(allowed=("*@supplier.test",))
    out = policy.apply(d, PASSED, mode="require")
    assert (out.verdict, out.reason, out.documents) == (Verdict.IMPORT, d.reason, d.documents)


def test_require_with_dns_down_says_a_recheck_will_try_again() -> None:
    out = policy.apply(invoice_decision(), DNS_DOWN, mode="require")
    assert out.verdict is Verdict.NOT_IMPORTED
    assert "DNS failed" in out.reason and out.reason.endswith("a recheck will try again")
    assert policy.apply(invoice_decision(), DNS_DOWN, mode="flag").verdict is Verdict.IMPORT


@pytest.mark.parametrize("mode", policy.MODES)
def test_a_blocked_domain_is_never_imported(mode: str) -> None:
    blocked = {"supplier.test": "a document was marked as fraud"}
    for sender in (SENDER, "x@mail.supplier.test"):
        out = policy.apply(invoice_decision(sender), PASSED, mode=mode, blocked=blocked)
        assert out.verdict is Verdict.NOT_IMPORTED and out.documents == ()
        assert (
            out.reason == "sender domain supplier.test is blocked: a document was marked as fraud"
        )
    proven = SenderAuth(AuthStatus.PASS, "DMARC pass", "other.test")
    other = policy.apply(invoice_decision("a@other.test"), proven, mode=mode, blocked=blocked)
    assert other.verdict is Verdict.IMPORT


def test_a_lookalike_domain_is_named_in_the_reason() -> None:
    d = invoice_decision("billing@supp1ier.test")
    auth = SenderAuth(AuthStatus.PASS, "DKIM signature by supp1ier.test verified", "supp1ier.test")
    out = policy.apply(d, auth, mode="require", lookalike_of="supplier.test")
    assert out.verdict is Verdict.IMPORT and out.lookalike_of == "supplier.test"
    assert out.reason.endswith("; From domain supp1ier.test looks like supplier.test")


def test_an_earlier_stop_keeps_its_reason() -> None:
    d = invoice_decision(allowed=("*@elsewhere.test",))
    out = policy.apply(d, FAILED, mode="require")
    assert (out.verdict, out.reason, out.hits) == (d.verdict, d.reason, d.hits)
    assert out.sender_auth == FAILED


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="off, flag, require"):
        policy.apply(invoice_decision(), PASSED, mode="strict")


@pytest.mark.parametrize("mode", ["flag", "require"])
def test_each_mail_gets_the_notes_of_its_own_result_and_lookalike(mode: str) -> None:
    # a run's mails share their notes' English text (policy caches it): one sender's mails
    # after another's, with and without a look-alike, must each read their own
    cases = [
        ("billing@supplier.test", NOTHING, None),
        ("billing@supp1ier.test", NOTHING, "supplier.test"),
        ("billing@supp1ier.test", NOTHING, "suppller.test"),
        ("billing@supp1ier.test", PASSED, "supplier.test"),
        ("billing@supplier.test", FAILED, None),
        ("billing@supplier.test", DNS_DOWN, None),
        ("billing@supp1ier.test", PASSED, None),
        ("billing@supplier.test", NOTHING, None),
    ]
    for _ in range(2):
        for sender, auth, looks in cases:
            out = policy.apply(invoice_decision(sender), auth, mode=mode, lookalike_of=looks)
            assert out.reason_parts and out.reason == english(out.reason_parts)
            assert (looks is not None) == out.reason.endswith(
                f"; From domain {auth.from_domain} looks like {looks}"
            )
            assert (auth.reason in out.reason) == (not auth.passed)

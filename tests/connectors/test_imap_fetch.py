"""The reader of a batch download (``connectors.imap_fetch``) on hand-written server answers
(a scripted server on 127.0.0.1) and on the suite's Dovecot: the same bytes, vanished uids
absent, unsolicited responses between the FETCHes, errors as ConnectorError."""

from __future__ import annotations

import pytest
from scripted_imap import ScriptedImap

from builders import make_mail
from harness.dovecot import Mailbox
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings
from invoice_inbox.connectors.imap_fetch import uid_set
from invoice_inbox.errors import ProtocolFailed

A = b"From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n"
B = b"From: b@example.com\r\nSubject: two\r\n\r\nsecond (body) with {5}\r\n)\r\n"
DONE = b"{tag} OK Fetch completed.\r\n"


def _lit(body: bytes) -> bytes:
    return b"{%d}\r\n" % len(body) + body


def _connector(port: int, user: str = "u", password: str = "pw") -> ImapConnector:
    return ImapConnector(
        ImapSettings(host="127.0.0.1", port=port, security="none", username=user, password=password)
    )


def _scripted(*answers: list[bytes], uids: list[int]) -> tuple[list[dict[int, bytes]], list[bytes]]:
    """Each answer in turn to a fetch of *uids*: what each fetch gave, and the commands sent."""
    got = []
    with ScriptedImap(answers) as server, _connector(server.port) as conn:
        conn.open_folder("INBOX")
        for _ in answers:
            got.append(dict(conn.fetch(uids)))
        commands = list(server.commands)
    return got, commands


def test_uid_sets_are_ranges_of_consecutive_uids() -> None:
    assert uid_set([9, 1, 2, 3, 7, 10, 2]) == b"1:3,7,9:10"
    assert uid_set([5]) == b"5"


def test_the_body_and_its_uid_in_either_order_and_the_command_sent() -> None:
    answer = [
        b"* 1 FETCH (UID 4 BODY[] " + _lit(A) + b")\r\n",
        b"* 2 FETCH (BODY[] " + _lit(B) + b" UID 5)\r\n",
        DONE,
    ]
    (got,), commands = _scripted(answer, uids=[4, 5, 6])
    assert got == {4: A, 5: B}  # 6 vanished: simply absent
    assert any(c.endswith(b"UID FETCH 4:6 (UID BODY.PEEK[])") for c in commands)


def test_unsolicited_responses_between_the_fetches() -> None:
    answer = [
        b"* 1 FETCH (UID 4 FLAGS (\\Seen) BODY[] " + _lit(A) + b")\r\n",
        b"* 2 EXPUNGE\r\n* 4 EXISTS\r\n* 1 FETCH (FLAGS (\\Seen \\Flagged))\r\n",
        b"* 9 FETCH (UID 77 BODY[] " + _lit(B) + b")\r\n",  # not asked for: dropped
        b"* 2 FETCH (MODSEQ (12) UID 5 BODY[] " + _lit(B) + b")\r\n",
        b"* OK [HIGHESTMODSEQ 12] noted\r\n",
        DONE,
    ]
    (got,), _ = _scripted(answer, uids=[4, 5])
    assert got == {4: A, 5: B}


def test_a_literal_split_across_reads_and_an_empty_one() -> None:
    big = b"Subject: big\r\n\r\n" + b"x" * 200_000 + b"\r\n"
    lit = _lit(big)
    answer = [
        b"* 1 FETCH (UID 4 BODY[] " + lit[:9],
        lit[9:70_000],
        lit[70_000:] + b")\r\n* 2 FETCH (UID 5 BODY[] {0}\r\n",
        b")\r\n" + DONE,
    ]
    (got,), _ = _scripted(answer, uids=[4, 5])
    assert got == {4: big, 5: b""}


def test_a_body_of_nil_is_a_mail_expunged_meanwhile() -> None:
    answer = [
        b"* 1 FETCH (UID 4 BODY[] NIL)\r\n* 2 FETCH (BODY[] " + _lit(B) + b" UID 5)\r\n",
        DONE,
    ]
    (got,), _ = _scripted(answer, uids=[4, 5])
    assert got == {5: B}


def test_a_quoted_body_goes_through_the_general_parser() -> None:
    answer = [b'* 1 FETCH (UID 4 BODY[] "short \\"quoted\\" mail")\r\n', DONE]
    (got,), _ = _scripted(answer, uids=[4])
    assert got == {4: b'short "quoted" mail'}


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ([b"* 1 FETCH (UID 4 BODY[] ~" + _lit(A) + b")\r\n", DONE], "binary literal"),
        ([b"* 1 FETCH (BODY[] " + _lit(A) + b")\r\n", DONE], "without its UID"),
        ([b"{tag} NO [SERVERBUG] Internal error occurred.\r\n"], "Internal error occurred"),
    ],
)
def test_refused_answers_are_errors_and_the_connection_stays_usable(
    answer: list[bytes], words: str
) -> None:
    fine = [b"* 1 FETCH (UID 4 BODY[] " + _lit(A) + b")\r\n", DONE]
    with ScriptedImap([answer, fine]) as server, _connector(server.port) as conn:
        conn.open_folder("INBOX")
        with pytest.raises(ProtocolFailed) as err:
            dict(conn.fetch([4]))
        assert words in str(err.value)
        assert dict(conn.fetch([4])) == {4: A}  # the answer was read whole


def test_dovecot_mail_expunged_and_flagged_by_another_client(mailbox: Mailbox) -> None:
    raws = [make_mail(subject=f"mail {i}") for i in range(5)]
    uids = [mailbox.append("INBOX", raw) for raw in raws]
    conn = _connector(mailbox.server.imap_port, mailbox.user, mailbox.password)
    with conn:
        conn.open_folder("INBOX")
        assert dict(conn.fetch(uids)) == dict(zip(uids, raws, strict=True))
        other = mailbox.imap()
        other.select("INBOX")
        other.uid("STORE", str(uids[1]), "+FLAGS", "(\\Deleted)")
        other.expunge()
        other.uid("STORE", str(uids[3]), "+FLAGS", "(\\Seen)")
        other.logout()
        # this session has not heard of the expunge yet: Dovecot answers BODY[] NIL for it
        got = dict(conn.fetch(uids))
        assert got == {u: r for u, r in zip(uids, raws, strict=True) if u != uids[1]}
        assert dict(conn.fetch(uids[3:])) == dict(zip(uids[3:], raws[3:], strict=True))
    assert mailbox.flags()[uids[0]] == set()  # read with PEEK: not \Seen

"""Header parameters read by ``mime_params`` against ``email.message.Message``'s own methods:
the same ``get_param``, ``get_content_charset`` and ``get_boundary`` for any header value."""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message

from hypothesis import example, given
from hypothesis import strategies as st

from invoice_inbox.pipeline import mime_params

PIECES = (
    "text/plain", "multipart/mixed", " ", "\t", "\r\n ", ";", "=", '"', "\\", "*", "<", ">",
    "charset", "CharSet", "boundary", "name", "filename", "name*", "name*0", "utf-8", "ISO-8859-1",
    "a", "b c", "x.pdf", "ä", "=?utf-8?q?x?=", "''", "%41", "\udce4",
)  # fmt: skip


def message(header: str, value: str) -> Message:
    msg = Message()
    msg.set_raw(header, value)  # as the parsers store it: the raw text of the field
    return msg


def answer(read: Callable[..., object], *args: object, **kwargs: object) -> object:
    """What ``read(*args, **kwargs)`` returns, or the class of what it raises (a value mixing
    8-bit bytes and other text makes the standard library raise: both must)."""
    try:
        return read(*args, **kwargs)
    except Exception as exc:
        return type(exc)


def same(value: str) -> None:
    for header in ("content-type", "content-disposition"):
        msg = message(header.title(), value)
        for name in ("charset", "CHARSET", "boundary", "name", "filename", "text/plain", ""):
            wanted = answer(msg.get_param, name, header=header)
            assert answer(mime_params.param, msg, name, header) == wanted, (value, name)
        assert answer(mime_params.charset, msg) == answer(msg.get_content_charset), value
        assert answer(mime_params.boundary, msg) == answer(msg.get_boundary), value


@given(st.lists(st.sampled_from(PIECES), max_size=14))
@example(['text/plain; charset="us-ascii"; name="<a>"; name=b'])
@example(['multipart/mixed; boundary="<=_b  >"  ; x'])
@example(['charset=UTF-8;;; "a;b"; boundary=c'])
def test_parameters_read_as_the_standard_library_reads_them(pieces: list[str]) -> None:
    same("".join(pieces))


def test_usual_values_are_read_without_the_standard_library() -> None:
    """Typical values are plain, and the answers match (the test above checks the others)."""
    values = [
        "text/plain; charset=us-ascii",
        'application/pdf; name="INV-2025-000001.pdf"',
        'attachment; filename="INV-2025-000001.pdf"',
        'multipart/mixed; boundary="=_bench_00ff"',
    ]
    for value in values:
        assert mime_params.plain(value) is not None
        same(value)
    assert mime_params.plain("attachment; filename*=utf-8''%C3%A4.pdf") is None
    assert mime_params.plain('attachment; filename="a;b.pdf"') is None

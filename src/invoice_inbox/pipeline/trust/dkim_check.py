"""DKIM and ARC verification with dkimpy, its key lookups through a ``Lookup``.

Every DKIM-Signature is checked (top first, at most ``MAX_SIGNATURES``, so a hostile mail cannot
make us do unbounded work); each gives its domain, selector, result and why:

- ``pass``: the signature verifies with the published key;
- ``fail``: it does not (the body changed after signing, a signed header changed, another key);
- ``permerror``: it cannot be checked (malformed signature, no key published, a bad key);
- ``temperror``: DNS did not answer for the key.

``check_arc`` verifies an ARC chain (RFC 8617) the same way and returns the newest set's sealer
and its ARC-Authentication-Results, for ``provider`` to decide whether to believe it.

dkimpy reads a mail by splitting all of it into lines and joining the body again (70 % of a
check on a 270 KB mail), and hashes the body as one canonicalized copy (or three); here it is
given only the header fields (``header_block``, what its ``rfc822_parse`` makes of them) and an
empty body, and the body hash is checked over the raw mail piece by piece (``dkim_body``): a
big mail is never copied. Where dkimpy would stop before the body hash (an unknown ``c=`` or
``a=``, a TLSRPT key) it gets the whole body, as before.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import dkim

from invoice_inbox.json_types import JsonObject
from invoice_inbox.pipeline.trust.dkim_body import body_hash
from invoice_inbox.pipeline.trust.headers import Headers, normalize_domain, read_headers
from invoice_inbox.pipeline.trust.result import DnsTempError, Lookup

MAX_SIGNATURES = 5
MAX_ARC_SETS = 10  # RFC 8617 allows 50; a chain longer than this is not checked

_BLANK_LINE = re.compile(rb"\n\r?\n")  # the end of the header block


def header_block(raw: bytes) -> tuple[list[list[bytes]], int]:
    """The header fields as ``dkim.rfc822_parse`` gives them, and where the body starts (the
    length of *raw* when there is none); only the header block is parsed."""
    if raw.startswith((b"\n", b"\r\n")):  # no header at all
        return [], raw.index(b"\n") + 1
    end = _BLANK_LINE.search(raw)
    if end is None:  # no body: all of it is headers
        headers: list[list[bytes]] = dkim.rfc822_parse(raw)[0]  # dkimpy: untyped
        return headers, len(raw)
    return dkim.rfc822_parse(raw[: end.end()])[0], end.end()


def split_message(raw: bytes) -> tuple[list[list[bytes]], bytes]:
    """What ``dkim.rfc822_parse`` gives (the header fields, and the body with CRLF line ends),
    parsing only the header block: the body is never split into lines."""
    headers, start = header_block(raw)
    return headers, _crlf(raw[start:])


def _crlf(body: bytes) -> bytes:
    """*body* with every line end CRLF, as dkimpy's ``re.split(b"\\r?\\n")`` and join make it."""
    if body.count(b"\n") == body.count(b"\r\n"):
        return body
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass
class _RawBody:
    """A mail's body as a verifier checks it: the raw mail and where its body starts; the
    canonical length of the body last hashed (for ``l=``)."""

    raw: bytes
    start: int
    length: int | None = None

    def checked(self, verifier: Any, sig: dict[bytes, bytes]) -> dict[bytes, bytes]:
        """*sig* without ``bh=`` once its body hash is checked here, exactly as dkimpy's
        ``verify_sig_process`` would (the same ``ValidationError`` when it does not match);
        where dkimpy raises before the body hash, *sig* as is, and the verifier gets the body."""
        if b"bh" not in sig:  # an ARC-Seal: headers only
            return sig
        if verifier.tlsrpt or verifier.seqtlsrpt:
            return self._whole(verifier, sig)
        try:
            policy = dkim.CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple"))
            new_hash = dkim.HASH_ALGORITHMS[sig[b"a"]]
        except Exception:
            return self._whole(verifier, sig)
        limit = int(sig[b"l"]) if b"l" in sig else None  # dkimpy's int(): its error too
        relaxed = policy.body_algorithm.name == b"relaxed"
        digest, self.length = body_hash(
            self.raw, self.start, relaxed=relaxed, new_hash=new_hash, limit=limit
        )
        expected = base64.b64decode(re.sub(rb"\s+", b"", sig[b"bh"]))
        if digest != expected:
            got, bh = base64.b64encode(digest), sig[b"bh"]  # dkimpy's words: b'...' shown
            raise dkim.ValidationError(f"body hash mismatch (got {got!r}, expected {bh!r})")
        return {k: v for k, v in sig.items() if k != b"bh"}

    def _whole(self, verifier: Any, sig: dict[bytes, bytes]) -> dict[bytes, bytes]:
        verifier.body, self.length = _crlf(self.raw[self.start :]), None
        return sig


class _RawBodyCheck:
    """For dkimpy's verifiers: no body handed over, the body hash checked by ``_RawBody``."""

    def __init__(self, raw: bytes, logger: logging.Logger) -> None:
        super().__init__(None, logger=logger, timeout=5)  # type: ignore[call-arg]
        self.headers, start = header_block(raw)
        self.body = b""  # dkimpy is handed no body: ``_RawBody`` hashes it
        self.raw_body = _RawBody(raw, start)

    def verify_sig_process(
        self, sig: dict[bytes, bytes], include: list[bytes], header: Any, dnsfunc: Any
    ) -> bool:
        checked = self.raw_body.checked(self, sig)
        return bool(super().verify_sig_process(checked, include, header, dnsfunc))  # type: ignore[misc]


class _DKIM(_RawBodyCheck, dkim.DKIM):  # type: ignore[misc]  # dkimpy: untyped
    """dkimpy's DKIM verifier with the body hash checked by ``_RawBody``."""


class _ARC(_RawBodyCheck, dkim.ARC):  # type: ignore[misc]  # dkimpy: untyped
    """dkimpy's ARC verifier with the body hash checked by ``_RawBody``."""


class _Log(logging.Handler):
    """Collects what dkimpy logs as errors: the only place it says why a check failed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _logger() -> tuple[logging.Logger, _Log]:
    logger = logging.Logger("invoice_inbox.dkim", logging.ERROR)  # not registered: no leaks
    handler = _Log()
    logger.addHandler(handler)
    return logger, handler


@dataclass
class _Keys:
    """dkimpy's ``dnsfunc``: the TXT record of ``selector._domainkey.domain`` via the Lookup;
    remembers which names had no key and whether DNS failed."""

    lookup: Lookup
    missing: set[str] = field(default_factory=set)
    temp_error: str | None = None

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        text = text.rstrip(".")
        try:
            records = self.lookup(text, "TXT")
        except DnsTempError as exc:
            self.temp_error = str(exc) or f"DNS did not answer for {text}"
            raise
        keys = [r for r in records if "p=" in r]
        if not keys:
            self.missing.add(text.lower())
            return None
        return keys[0].encode("utf-8", "replace")


def _sig_tags(value: bytes) -> dict[bytes, bytes]:
    try:
        return dkim.util.parse_tag_value(value)  # type: ignore[no-any-return]  # dkimpy: untyped
    except Exception:
        return {}


def _field_values(raw: bytes, name: str, headers: Headers | None) -> list[bytes]:
    """The values of one header field, top first (only the header block is read, unless the
    caller has read it already: *headers*)."""
    found = (read_headers(raw) if headers is None else headers).get_all(name)
    return [v.encode("utf-8", "replace") for v in found]


def check_dkim(
    raw: bytes, lookup: Lookup, *, limit: int = MAX_SIGNATURES, headers: Headers | None = None
) -> list[JsonObject]:
    """One result per DKIM-Signature (the first ``limit``), top first; *headers*: the mail's
    ``read_headers``, when the caller has them."""
    found = _field_values(raw, "DKIM-Signature", headers)
    results: list[JsonObject] = []
    for idx, value in enumerate(found[:limit]):
        tags = _sig_tags(value)
        domain = normalize_domain(tags.get(b"d", b"").decode("ascii", "replace"))
        selector = tags.get(b"s", b"").decode("ascii", "replace").strip()
        results.append(
            {
                "domain": domain,
                "selector": selector,
                **_verify_one(raw, idx, domain, selector, lookup),
            }
        )
    if len(found) > limit:
        results.append(
            {
                "domain": "",
                "selector": "",
                "result": "neutral",
                "reason": f"{len(found) - limit} more signatures were not checked",
            }
        )
    return results


def _verify_one(raw: bytes, idx: int, domain: str, selector: str, lookup: Lookup) -> dict[str, str]:
    logger, log = _logger()
    keys = _Keys(lookup)
    key_name = f"{selector}._domainkey.{domain}".lower()
    try:
        verifier = _DKIM(raw, logger)
        ok = verifier.verify(idx=idx, dnsfunc=keys)
    except DnsTempError:
        return {"result": "temperror", "reason": f"DNS did not answer for the key {key_name}"}
    except dkim.ValidationError as exc:
        text = str(exc)
        if "body hash mismatch" in text:
            return {"result": "fail", "reason": "the body was changed after signing"}
        if "x= value is past" in text or "expire" in text:
            return {"result": "fail", "reason": "the signature has expired"}
        return {"result": "permerror", "reason": f"the signature is malformed: {text[:120]}"}
    except dkim.DKIMException as exc:
        return {
            "result": "permerror",
            "reason": f"the signature cannot be checked: {str(exc)[:120]}",
        }
    except Exception as exc:  # dkimpy on hostile input: recorded, never raised
        return {
            "result": "permerror",
            "reason": f"the signature cannot be read ({type(exc).__name__})",
        }
    if ok:
        return _body_length_check(verifier, dict(getattr(verifier, "signature_fields", {}) or {}))
    if key_name in keys.missing:
        return {"result": "permerror", "reason": f"no DKIM key is published at {key_name}"}
    if log.messages and any("key" in m.lower() for m in log.messages):
        return {
            "result": "permerror",
            "reason": f"the published key is not usable: {log.messages[-1][:120]}",
        }
    return {
        "result": "fail",
        "reason": "the signature does not match (a signed header changed, or another key signed)",
    }


def _body_length_check(verifier: _DKIM, tags: dict[bytes, bytes]) -> dict[str, str]:
    """A verified signature with ``l=`` signs only the first bytes of the body: anything after
    them (a new IBAN, a link) was added by someone else, so that is a fail, not a pass."""
    length = tags.get(b"l", b"").strip()
    if length:
        canonical = verifier.raw_body.length
        if canonical is None:  # dkimpy hashed the body itself (see ``_RawBody.checked``)
            try:
                policy = dkim.CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple"))
                canonical = len(policy.canonicalize_body(verifier.body))
            except Exception:
                canonical = len(verifier.body)
        if not length.isdigit() or canonical > int(length):
            return {
                "result": "fail",
                "reason": "text was added after the signed part of the body (l=)",
            }
    return {"result": "pass", "reason": "signature verified"}


def check_arc(raw: bytes, lookup: Lookup) -> JsonObject | None:
    """The ARC chain's verdict, or None without ARC headers: ``cv`` pass/fail/temperror, the
    newest set's ``instance``, ``sealer`` (ARC-Seal d=) and ``aar`` (its
    ARC-Authentication-Results value), and ``reason``."""
    seals = _field_values(raw, "ARC-Seal", None)
    if not seals:
        return None
    if len(seals) > MAX_ARC_SETS:
        return {"cv": "fail", "reason": f"an ARC chain of {len(seals)} sets is not checked"}
    logger, _ = _logger()
    keys = _Keys(lookup)
    try:
        verifier = _ARC(raw, logger)
        cv, sets, why = verifier.verify(dnsfunc=keys)
    except DnsTempError:
        return {"cv": "temperror", "reason": "DNS did not answer for an ARC key"}
    except Exception as exc:
        return {"cv": "fail", "reason": f"the ARC chain cannot be read ({type(exc).__name__})"}
    if keys.temp_error:
        return {"cv": "temperror", "reason": "DNS did not answer for an ARC key"}
    verdict = cv.decode() if isinstance(cv, bytes) else str(cv or "fail")
    out: JsonObject = {"cv": verdict.lower(), "reason": str(why)}
    if sets:
        newest = sets[0]
        out["instance"] = newest.get("instance")
        out["sealer"] = normalize_domain(
            bytes(newest.get("as-domain", b"")).decode("ascii", "replace")
        )
        out["aar"] = bytes(newest.get("aar-value", b"")).decode("utf-8", "replace").strip()
    return out

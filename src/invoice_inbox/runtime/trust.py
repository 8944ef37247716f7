"""A private certificate authority pasted on a source's form or sent to the API: it must be
one or more real X.509 certificates in PEM, and is kept as the PEM of those certificates
(nothing else that was pasted around them).

A server whose certificate is signed by the company's own CA is then trusted for that source
only; the system's trusted CAs stay as they are for every other source.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

MAX_PEM = 64 * 1024  # a CA bundle of a few certificates; more is not a CA certificate


class NotACertificate(ValueError):
    """The text is not a PEM certificate; the message says so in one sentence."""


def ca_certificates(text: str | bytes | None) -> str | None:
    """The PEM of the certificates in *text* (None for empty text); NotACertificate when it
    holds none, or something that is not a certificate."""
    if text is None:
        return None
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if not raw.strip():
        return None
    if len(raw) > MAX_PEM:
        raise NotACertificate(f"the CA certificate is too long ({MAX_PEM // 1024} KB at most)")
    if b"-----BEGIN CERTIFICATE-----" not in raw:
        raise NotACertificate(
            "paste the CA certificate in PEM form, from -----BEGIN CERTIFICATE----- to"
            " -----END CERTIFICATE-----"
        )
    try:
        found = x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise NotACertificate("the CA certificate cannot be read: it is damaged or cut") from None
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in found)


def describe(pem: str | None) -> list[str]:
    """Who each certificate in *pem* names, for the form ("CN=ACME Root CA, valid until
    2030-01-01")."""
    if not pem:
        return []
    shown = []
    for cert in x509.load_pem_x509_certificates(pem.encode()):
        until = cert.not_valid_after_utc.date().isoformat()
        shown.append(f"{cert.subject.rfc4514_string()}, valid until {until}")
    return shown

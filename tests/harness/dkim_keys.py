"""DKIM keys and signatures for the tests: a real RSA key pair per test domain, the TXT record to
publish, and mail signed (DKIM) or sealed (ARC) with dkimpy, as a sending server would.

Usage::

    key = DkimKey.generate("supplier.test", "s1")     # 1024-bit RSA (fast; dkimpy's minimum)
    dns_server.add(key.record_name, "TXT", key.txt)   # or key.publish(dns_server)
    signed = key.sign(raw)                            # DKIM-Signature prepended (d=, s= of key)
    sealed = key.arc_seal(raw, "mx.forwarder.test")   # one ARC set prepended (i=next)
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from typing import Protocol

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["DkimKey", "sign"]


class _Zone(Protocol):
    def add(self, name: str, rtype: str, value: str, ttl: int | None = None) -> None: ...


@functools.lru_cache(maxsize=128)
def _key_pair(bits: int, label: str) -> tuple[bytes, str]:
    """A PKCS#1 PEM private key and the base64 public key, one per label in a session."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(der).decode()


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_pem: bytes
    public_b64: str

    @classmethod
    def generate(
        cls, domain: str, selector: str = "s1", *, bits: int = 1024, label: str = ""
    ) -> DkimKey:
        """A key for ``selector._domainkey.domain``, the same one for the same arguments within
        a test session (generating is slow); another ``label`` gives another key pair for the
        same name (a "wrong key" test)."""
        pem, pub = _key_pair(bits, f"{domain}/{selector}/{label}")
        return cls(domain, selector, pem, pub)

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def txt(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_b64}"

    def publish(self, zone: _Zone, ttl: int | None = None) -> None:
        """Add the key's TXT record to a zone (a ``DnsServer``)."""
        zone.add(self.record_name, "TXT", self.txt, ttl)

    def sign(
        self, raw: bytes, *, headers: list[bytes] | None = None, identity: str | None = None
    ) -> bytes:
        """``raw`` with a DKIM-Signature by this key prepended (relaxed/simple)."""
        header = dkim.sign(
            raw,
            self.selector.encode(),
            self.domain.encode(),
            self.private_pem,
            identity=identity.encode() if identity else None,
            include_headers=headers,
        )
        return header + raw

    def arc_seal(self, raw: bytes, authserv_id: str) -> bytes:
        """``raw`` with the next ARC set (ARC-Seal, ARC-Message-Signature,
        ARC-Authentication-Results) by this key prepended. The Authentication-Results header
        by ``authserv_id`` that the sealer added must already be on top of ``raw``."""
        lines = dkim.arc_sign(
            raw,
            self.selector.encode(),
            self.domain.encode(),
            self.private_pem,
            authserv_id.encode(),
        )
        return b"".join(lines) + raw


def sign(raw: bytes, domain: str, selector: str = "s1") -> tuple[bytes, DkimKey]:
    """Sign ``raw`` with a key for ``domain``/``selector``: (signed mail, the key to publish)."""
    key = DkimKey.generate(domain, selector)
    return key.sign(raw), key

"""Look-alike sender domains: real-world spoofing patterns (typosquats and homographs as seen in
business e-mail compromise reports and phishing write-ups) are flagged with the domain they
imitate; unrelated real domains, free-mail providers, a known domain itself and its subdomains
are not; odd input never raises."""

from __future__ import annotations

import pytest

from invoice_inbox.pipeline.trust.lookalike import lookalike_of

KNOWN = frozenset(
    {
        "paypal.com",
        "microsoft.com",
        "amazon.de",
        "apple.com",
        "wellsfargo.com",
        "adobe.com",
        "siemens.com",
        "linkedin.com",
        "telekom.de",
        "docusign.net",
        "bankofamerica.com",
        "facebook.com",
        "supplier.test",
        "sap.com",
        "dhl.de",
        "ibm.com",
    }
)

# (From domain, the known domain it imitates, the trick)
SPOOFS = [
    ("paypa1.com", "paypal.com", "digit 1 for l"),
    ("paypaI.com", "paypal.com", "capital I for l"),
    ("rnicrosoft.com", "microsoft.com", "rn for m"),
    ("micros0ft.com", "microsoft.com", "digit 0 for o"),
    ("micorsoft.com", "microsoft.com", "swapped letters"),
    ("arnazon.de", "amazon.de", "rn for m"),
    ("amaz0n.de", "amazon.de", "digit 0 for o"),
    ("amzaon.de", "amazon.de", "swapped letters"),
    ("vvellsfargo.com", "wellsfargo.com", "vv for w"),
    ("wellsfarg0.com", "wellsfargo.com", "digit 0 for o"),
    ("aclobe.com", "adobe.com", "cl for d"),
    ("bankofarnerica.com", "bankofamerica.com", "rn for m in a long name"),
    ("linkedn.com", "linkedin.com", "a letter left out"),
    ("docusgn.net", "docusign.net", "a letter left out"),
    ("paypall.com", "paypal.com", "a letter doubled"),
    ("faceboook.com", "facebook.com", "a letter doubled"),
    ("siemens.co", "siemens.com", "another top-level domain"),
    ("sap.de", "sap.com", "another top-level domain, short name"),
    ("dhl.com", "dhl.de", "another top-level domain, short name"),
    ("microsoft-support.com", "microsoft.com", "an extra word"),
    ("docusign-mail.net", "docusign.net", "an extra word"),
    ("telekom-rechnung.de", "telekom.de", "an extra word (German: invoice)"),
    ("paypal.com.secure-login.net", "paypal.com", "the known domain as a subdomain"),
    ("amazon.de.rechnung-online.com", "amazon.de", "the known domain as a subdomain"),
    ("microsoft.com-invoice.info", "microsoft.com", "hyphen after the known domain"),
    ("xn--pple-43d.com", "apple.com", "IDN homograph: Cyrillic a (Zheng 2017)"),
    ("xn--80ak6aa92e.com", "apple.com", "IDN homograph: all Cyrillic (Zheng 2017)"),
    ("αmazon.de", "amazon.de", "Greek alpha, not encoded"),
    ("adobé.com", "adobe.com", "an accent"),
    ("lınkedin.com", "linkedin.com", "dotless i"),
    ("ibrn.com", "ibm.com", "rn for m, short name"),
    # the issue's own examples
    ("supp1ier.test", "supplier.test", "digit 1 for l"),
    ("suplier.test", "supplier.test", "a letter left out"),
    ("supplier.com", "supplier.test", "another top-level domain"),
    ("supplier-test.com", "supplier.test", "the dot as a hyphen"),
    ("suppliertest.com", "supplier.test", "the dot left out"),
    ("supplier.test.com", "supplier.test", "the known domain as a subdomain"),
    ("supplier.test-billing.com", "supplier.test", "a word glued on with a hyphen"),
    ("supplier-invoices.test", "supplier.test", "an extra word"),
    ("supplierinvoices.test", "supplier.test", "an extra word, no hyphen"),
    ("xn--supplir-gya.test", "supplier.test", "IDN: e with an accent"),
]

# Real domains unrelated to KNOWN (short names one letter off included), free-mail providers,
# and the known domains themselves with their subdomains.
UNRELATED = [
    "sas.com",  # sap.com one letter off: short names change only by suffix or confusables
    "dpd.de",  # dhl.de
    "hp.com",
    "abb.com",
    "ikea.com",
    "ups.com",
    "db.de",
    "dm.de",
    "sparkasse.de",
    "github.com",
    "google.com",
    "lidl.de",
    "otto.de",
    "bosch.de",
    "basf.com",
    "bmw.de",
    "adidas.com",
    "apache.org",
    "mozilla.org",
    "heise.de",
    "spiegel.de",
    "appleton.org",  # contains apple, but a short name is never matched inside a word
    "sapient.com",
    "paychex.com",
    "microchip.com",
    "adyen.com",
    "stripe.com",
    "telefonica.de",
    "docker.com",
    "gmail.com",
    "web.de",
    "outlook.com",
    "microsoft.com",
    "mail.microsoft.com",
    "email.apple.com",
    "billing.supplier.test",
    "SUPPLIER.TEST.",
]


@pytest.mark.parametrize(("domain", "imitated", "trick"), SPOOFS, ids=[s[0] for s in SPOOFS])
def test_a_spoofing_pattern_names_the_domain_it_imitates(
    domain: str, imitated: str, trick: str
) -> None:
    assert lookalike_of(domain, KNOWN) == imitated, trick


@pytest.mark.parametrize("domain", UNRELATED)
def test_an_unrelated_domain_is_not_a_lookalike(domain: str) -> None:
    assert lookalike_of(domain, KNOWN) is None


def test_there_are_enough_patterns() -> None:
    assert len({trick for _, _, trick in SPOOFS}) >= 20
    assert len(SPOOFS) >= 20 and len(UNRELATED) >= 20


@pytest.mark.parametrize(
    "domain",
    [
        "",
        ".",
        "..",
        "localhost",
        "xn--",
        "xn--zz!.com",
        "a..b",
        "-.com",
        "-----.com",
        "--.--",
        "x" * 300 + ".com",
    ],
)
def test_odd_names_are_no_lookalike_and_never_raise(domain: str) -> None:
    assert lookalike_of(domain, KNOWN) is None
    assert lookalike_of("supplier.test", [domain]) is None


def test_nothing_known_nothing_imitated() -> None:
    assert lookalike_of("supp1ier.test", []) is None


def test_the_closest_known_domain_is_named() -> None:
    # supplier.com is the same name on another suffix (closest), not a typo of suppliers.test
    assert lookalike_of("supplier.com", ["suppliers.test", "supplier.test"]) == "supplier.test"

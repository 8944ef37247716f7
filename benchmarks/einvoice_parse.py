"""What reading an e-invoice's booking core costs: ``read_xml`` per invoice for a 1-line and a
500-line invoice, UBL and CII, against the header-only reader of before (the same run).

The invoices are corpus files with one line (``cen-en16931__ubl-tc434-example9.xml``,
``xrechnung-testsuite__01.07a-INVOICE_uncefact.xml``); the 500-line ones repeat that line 500
times (new line ids) with the header amounts (totals, VAT breakdown) multiplied by 500, so
they still add up and the consistency checks find nothing. The baseline is the reader as it
was at commit 26616a7 (number, dates, parties, totals, IBAN only), extracted from git into a
temporary package and run on the same bytes. Reports the median of ``--rounds`` timed rounds of
``--repeat`` reads each (after a warm-up round), in CPU milliseconds per invoice (this
process's CPU time: on a shared machine wall time measures the neighbours). Run it from the
repository root::

    .venv/bin/python benchmarks/einvoice_parse.py [--rounds 7] [--repeat 50]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from invoice_inbox.pipeline.einvoice import read_xml  # noqa: E402

CORPUS = ROOT / "tests" / "corpus"
BASELINE_COMMIT = "26616a7"  # the last commit whose readers read the header only
PACKAGE = "src/invoice_inbox/pipeline/einvoice"
UBL = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
CII = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
}


def header_only_reader() -> Callable[[bytes], object]:
    """``read_xml`` of commit ``BASELINE_COMMIT``, imported from a temporary copy."""
    folder = Path(tempfile.mkdtemp(prefix="einvoice-baseline-"))
    package = folder / "einvoice_header_only"
    package.mkdir()
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", BASELINE_COMMIT, f"{PACKAGE}/"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in names:
        source = subprocess.run(
            ["git", "show", f"{BASELINE_COMMIT}:{name}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
        target = package / Path(name).name
        target.write_bytes(b"" if target.name == "__init__.py" else source)
    sys.path.insert(0, str(folder))
    module = importlib.import_module("einvoice_header_only.vocabulary")
    return module.read_xml  # type: ignore[no-any-return]


def _scale(elements: list[etree._Element], n: int) -> None:
    for element in elements:
        element.text = str(Decimal(element.text or "0") * n)


def ubl_with_lines(n: int) -> bytes:
    root = etree.parse(str(CORPUS / "cen-en16931__ubl-tc434-example9.xml")).getroot()
    (line,) = root.findall("cac:InvoiceLine", UBL)
    for i in range(2, n + 1):
        copy = etree.fromstring(etree.tostring(line))
        copy.find("cbc:ID", UBL).text = str(i)  # type: ignore[union-attr]
        line.addnext(copy)
        line = copy
    _scale(root.findall("cac:LegalMonetaryTotal/*", UBL), n)
    _scale(root.findall("cac:TaxTotal/cbc:TaxAmount", UBL), n)
    _scale(root.findall("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount", UBL), n)
    _scale(root.findall("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount", UBL), n)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def cii_with_lines(n: int) -> bytes:
    path = CORPUS / "xrechnung-testsuite__01.07a-INVOICE_uncefact.xml"
    root = etree.parse(str(path)).getroot()
    transaction = root.find("rsm:SupplyChainTradeTransaction", CII)
    assert transaction is not None
    (line,) = transaction.findall("ram:IncludedSupplyChainTradeLineItem", CII)
    for i in range(2, n + 1):
        copy = etree.fromstring(etree.tostring(line))
        copy.find("ram:AssociatedDocumentLineDocument/ram:LineID", CII).text = str(i)  # type: ignore[union-attr]
        line.addnext(copy)
        line = copy
    settlement = "ram:ApplicableHeaderTradeSettlement"
    summation = f"{settlement}/ram:SpecifiedTradeSettlementHeaderMonetarySummation/*"
    _scale(transaction.findall(summation, CII), n)
    _scale(transaction.findall(f"{settlement}/ram:ApplicableTradeTax/ram:BasisAmount", CII), n)
    _scale(transaction.findall(f"{settlement}/ram:ApplicableTradeTax/ram:CalculatedAmount", CII), n)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def per_invoice_ms(read: Callable[[bytes], object], data: bytes, rounds: int, repeat: int) -> float:
    for _ in range(repeat):  # warm-up
        read(data)
    times = []
    for _ in range(rounds):
        start = time.process_time()  # CPU time: the machine is shared, wall time is not ours
        for _ in range(repeat):
            read(data)
        times.append((time.process_time() - start) / repeat * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    baseline = header_only_reader()
    cases = {
        "UBL, 1 line": ubl_with_lines(1),
        "UBL, 500 lines": ubl_with_lines(500),
        "CII, 1 line": cii_with_lines(1),
        "CII, 500 lines": cii_with_lines(500),
    }
    heading = ("invoice", "KiB", "lines", "problems", "booking", "header only", "ratio")
    print("{:16} {:>6} {:>6} {:>8} {:>11} {:>15} {:>6}".format(*heading))
    for name, data in cases.items():
        read = read_xml(data)
        assert read is not None
        repeat = max(1, args.repeat // 10) if "500" in name else args.repeat
        full = per_invoice_ms(read_xml, data, args.rounds, repeat)
        header = per_invoice_ms(baseline, data, args.rounds, repeat)
        print(
            f"{name:16} {len(data) / 1024:6.1f} {len(read.lines):6} {len(read.problems):8}"
            f" {full:11.3f} {header:15.3f} {full / header:6.2f}"
        )


if __name__ == "__main__":
    main()

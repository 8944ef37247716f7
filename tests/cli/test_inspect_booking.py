"""``invoice-inbox inspect`` prints an e-invoice's booking core in a line (lines, total without
VAT, VAT, amount due) and each calculation rule its figures break; ``--json`` gives the whole
``einvoice`` object with its problems."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from corpus import CORPUS
from invoice_inbox.cli import app

UBL = CORPUS / "cen-en16931__ubl-tc434-example9.xml"  # 1 line, 147.00 + 30.87, due 177.87


def test_inspect_prints_the_booking_line_and_the_problems(tmp_path: Path) -> None:
    changed = tmp_path / "changed.xml"
    changed.write_bytes(
        UBL.read_bytes().replace(b">177.87</cbc:PayableAmount>", b">177.88</cbc:PayableAmount>")
    )
    fine = CliRunner().invoke(app, ["inspect", str(UBL)])
    assert fine.exit_code == 0, fine.output
    assert "    1 line; without VAT 147.00, VAT 30.87, due 177.87\n" in fine.stdout
    assert "problem:" not in fine.stdout

    result = CliRunner().invoke(app, ["inspect", str(changed)])
    assert result.exit_code == 0, result.output
    assert "    1 line; without VAT 147.00, VAT 30.87, due 177.88\n" in result.stdout
    (problem,) = [line for line in result.stdout.splitlines() if "problem:" in line]
    assert problem.startswith("    problem: BR-CO-16: ") and "177.88" in problem

    as_json = CliRunner().invoke(app, ["inspect", str(changed), "--json"])
    (doc,) = json.loads(as_json.stdout)["documents"]
    assert [p["rule"] for p in doc["einvoice"]["problems"]] == ["BR-CO-16"]
    assert doc["einvoice"]["problems"][0]["figures"]

"""``source add --company NAME`` with a company that does not exist: refused in one sentence
naming the closest existing company and ``--create-company``, instead of silently making
"ACME GmbH." next to "ACME GmbH"; the very first company of a new data directory is made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # not a terminal: no question, a refusal
        env={**os.environ, "PW": "a mailbox password"},
        timeout=120,
    )


def _add(data: Path, name: str, company: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return _cli(
        data,
        *("source", "add", name, "--company", company, "--host", "mail.acme.example"),
        *("--username", "ap@acme.example", "--password-env", "PW", *extra),
    )


def _companies(data: Path) -> list[str]:
    r = _cli(data, "company", "list", "--json")
    assert r.returncode == 0, r.stderr
    return sorted(c["name"] for c in json.loads(r.stdout))


def test_a_mistyped_company_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _add(data, "acme-ap", "ACME GmbH")
    assert first.returncode == 0, first.stderr  # the first company of a new data directory
    assert 'Company "ACME GmbH" created' in first.stdout

    typo = _add(data, "acme-ap2", "ACME GmbH.")
    assert typo.returncode == 1, typo.stdout
    assert "Traceback" not in typo.stderr
    lines = typo.stderr.strip().splitlines()
    assert len(lines) == 1, typo.stderr
    assert 'no company "ACME GmbH."' in lines[0]
    assert 'did you mean "ACME GmbH"?' in lines[0]
    assert "--create-company" in lines[0]
    assert _companies(data) == ["ACME GmbH"]
    assert "acme-ap2" not in _cli(data, "source", "list").stdout

    same = _add(data, "acme-ap2", "ACME GmbH")
    assert same.returncode == 0, same.stderr
    assert "created" not in same.stdout.replace('Source "acme-ap2" added', "")

    new = _add(data, "beta-ap", "Beta AG", "--create-company")
    assert new.returncode == 0, new.stderr
    assert _companies(data) == ["ACME GmbH", "Beta AG"]

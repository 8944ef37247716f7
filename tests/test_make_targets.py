"""The README's two commands: ``make run`` installs the service alone (no pytest, ruff,
Playwright), ``make test`` the service with the dev extras and runs pytest in parallel; the
package metadata uses the SPDX licence string that setuptools 77 and later expect."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from packaging.licenses import canonicalize_license_expression
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def planned(target: str, venv: Path) -> list[str]:
    """The commands ``make TARGET`` would run for a fresh virtual environment (``make -n``)."""
    run = subprocess.run(
        ["make", "-n", "--no-print-directory", f"VENV={venv}", target],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return run.stdout.splitlines()


def pip_installs(lines: list[str]) -> list[str]:
    return [
        line
        for line in lines
        if " install " in line and "/pip " in line and "--upgrade" not in line
    ]


def test_make_run_installs_only_the_service(tmp_path: Path) -> None:
    installs = pip_installs(planned("run", tmp_path / "venv"))
    assert installs, "make run installs the package"
    for line in installs:
        assert line.endswith(" -e ."), line
        assert "[dev]" not in line


def test_make_test_installs_the_dev_extras_and_runs_in_parallel(tmp_path: Path) -> None:
    lines = planned("test", tmp_path / "venv")
    installs = pip_installs(lines)
    assert any(line.endswith(" -e '.[dev,postgresql,s3]'") for line in installs), lines
    assert any(line.startswith("./scripts/system-deps.sh test") for line in lines)
    assert "./scripts/test-servers.sh" in lines, "Cyrus and Courier for tests/contract"
    whole, *on_postgresql = [line for line in lines if line.split(" ", 1)[0].endswith("/pytest")]
    assert " -n " in whole and "--db" not in whole  # the whole suite, on SQLite
    assert on_postgresql, "then the database-facing tests on PostgreSQL"
    for line in on_postgresql:
        assert " -n " in line and "--db=postgresql" in line
    folders = {word for line in on_postgresql for word in line.split() if word.startswith("tests/")}
    assert {"tests/store", "tests/runtime", "tests/sync", "tests/web"} <= folders


def test_the_postgresql_extra_holds_the_driver() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = [Requirement(r) for r in project["optional-dependencies"]["postgresql"]]
    assert [(r.name, sorted(r.extras)) for r in extra] == [("psycopg", ["binary"])]


def test_the_dev_extras_hold_the_test_tools_and_the_service_none_of_them() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = {Requirement(r).name for r in project["optional-dependencies"]["dev"]}
    service = {Requirement(r).name.lower() for r in project["dependencies"]}
    assert {"pytest", "pytest-xdist", "ruff", "playwright"} <= dev
    assert not service & {"pytest", "pytest-xdist", "ruff", "playwright", "hypothesis"}


def test_the_licence_is_an_spdx_expression_with_a_setuptools_that_reads_it() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    licence = pyproject["project"]["license"]
    assert isinstance(licence, str)  # the table form {text = ...} is deprecated since 77
    assert canonicalize_license_expression(licence) == licence == "AGPL-3.0-or-later"
    (setuptools,) = [
        Requirement(r) for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")
    ]
    assert not setuptools.specifier.contains(Version("76.9"))

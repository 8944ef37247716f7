"""The test corpus travels with the repository: ``tests/corpus`` holds every file its
MANIFEST.tsv lists, byte-identical to its source (SHA-256), each row naming the source
repository, path and licence, and ``corpus.CORPUS`` points there unless
``INVOICE_INBOX_CORPUS`` says otherwise."""

from __future__ import annotations

import csv
import hashlib
import importlib
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
IN_REPO = TESTS / "corpus"
NOT_DATA = {"MANIFEST.tsv", "BOOKING.tsv", "README.md", ".gitattributes", "LICENSES"}


def load_corpus_module(monkeypatch: pytest.MonkeyPatch):
    """corpus.py imported afresh, as a test session would, with the environment set by the test."""
    monkeypatch.delitem(sys.modules, "corpus", raising=False)
    return importlib.import_module("corpus")  # the session's own is put back after the test


def manifest() -> list[dict[str, str]]:
    with open(IN_REPO / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_the_corpus_is_read_from_inside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INVOICE_INBOX_CORPUS", raising=False)
    corpus = load_corpus_module(monkeypatch).CORPUS
    assert corpus.resolve() == IN_REPO
    assert corpus.resolve().is_relative_to(REPO)


def test_the_environment_still_points_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INVOICE_INBOX_CORPUS", str(tmp_path))
    assert tmp_path == load_corpus_module(monkeypatch).CORPUS


def test_every_listed_file_is_there_byte_identical() -> None:
    rows = manifest()
    assert len(rows) >= 50
    for row in rows:
        data = (IN_REPO / row["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"], row["file"]


def test_every_file_is_listed_with_its_source_and_licence() -> None:
    rows = manifest()
    on_disk = {p.name for p in IN_REPO.iterdir()} - NOT_DATA
    assert on_disk == {row["file"] for row in rows}
    for row in rows:
        assert row["source_repo"].count("/") == 1, row["file"]
        assert row["source_path"] and len(row["source_commit"]) == 40, row["file"]
        assert row["licence"], row["file"]


def test_no_file_without_a_licence_grant() -> None:
    """Files whose source gives no licence (no LICENSE file, "copied with permission") stay out."""
    for row in manifest():
        licence = row["licence"].lower()
        assert "no license" not in licence and "copied with permission" not in licence, row["file"]

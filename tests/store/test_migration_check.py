"""Every process opens the database through ``Database``: the "is the schema up to date?" check
reads the stored revision and the migration files' newest one, and loads Alembic only when they
differ. The newest revision read from the files is Alembic's own; a database at it opens
without Alembic; one behind it is migrated as before; files that are not plain (a merge, two
heads) and a database at a revision nobody knows go to Alembic, which decides as it always did.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text

from invoice_inbox.store.db import Database, alembic_config, at_head, head_revision, make_engine


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'x.db'}"


def test_the_newest_revision_read_from_the_files_is_alembics() -> None:
    scripts = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    assert head_revision() is not None
    assert head_revision() == scripts.get_current_head()


def test_a_database_at_the_newest_revision_opens_without_loading_alembic(tmp_path: Path) -> None:
    Database(_url(tmp_path), lock_dir=tmp_path).close()  # made and migrated here
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from invoice_inbox.store.db import Database\n"
            f"Database({_url(tmp_path)!r}, lock_dir=None).close()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))",
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("INVOICE_INBOX_")},
        timeout=120,
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "[]"


def test_a_database_behind_is_migrated_to_the_newest_revision(tmp_path: Path) -> None:
    head = head_revision()
    assert head is not None
    engine = make_engine(_url(tmp_path))
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    before = scripts.get_revision(head).down_revision
    assert isinstance(before, str)
    command.upgrade(alembic_config(engine), before)
    assert not at_head(engine)
    Database(_url(tmp_path), lock_dir=tmp_path).close()
    assert at_head(engine)
    engine.dispose()


def test_a_new_database_is_not_at_the_newest_revision(tmp_path: Path) -> None:
    engine = make_engine(_url(tmp_path))
    assert not at_head(engine)  # no alembic_version table yet
    engine.dispose()


def test_a_revision_nobody_knows_is_still_alembics_to_refuse(tmp_path: Path) -> None:
    Database(_url(tmp_path), lock_dir=tmp_path).close()
    engine = make_engine(_url(tmp_path))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert not at_head(engine)
    with pytest.raises(CommandError, match="9999"):
        Database(_url(tmp_path), lock_dir=tmp_path)
    engine.dispose()


def _versions(tmp_path: Path, *files: str) -> Path:
    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for n, body in enumerate(files):
        (folder / f"{n:04d}_x.py").write_text(f'"""A migration."""\n\n{body}\n')
    return folder


def test_the_newest_revision_is_read_from_plain_files(tmp_path: Path) -> None:
    folder = _versions(
        tmp_path,
        'revision = "a1"\ndown_revision = None',
        'revision: str = "b2"\ndown_revision: str | None = "a1"  # annotated, as Alembic writes',
        "revision = 'c3'\ndown_revision = 'b2'",
    )
    assert head_revision(folder) == "c3"


@pytest.mark.parametrize(
    "files",
    [
        # two heads
        ('revision = "a1"\ndown_revision = None', 'revision = "b2"\ndown_revision = None'),
        # a merge
        (
            'revision = "a1"\ndown_revision = None',
            'revision = "b2"\ndown_revision = "a1"',
            'revision = "c3"\ndown_revision = "a1"',
            'revision = "d4"\ndown_revision = ("b2", "c3")',
        ),
        # a revision computed, not written
        ('revision = "a" + "1"\ndown_revision = None',),
        # none at all
        ("x = 1",),
        # a revision before it that is not there
        ('revision = "b2"\ndown_revision = "a1"',),
    ],
)
def test_files_that_are_not_plain_leave_it_to_alembic(
    tmp_path: Path, files: tuple[str, ...]
) -> None:
    assert head_revision(_versions(tmp_path, *files)) is None

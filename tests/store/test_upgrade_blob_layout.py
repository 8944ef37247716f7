"""The first versions' blob layout (blobs/ab/cd/<sha256>) is moved to today's (blobs/ab/<sha256>)
once, when a data directory opens; what is not a blob of that layout is left alone."""

from __future__ import annotations

from pathlib import Path

from harness.old_data_dir import BlobLayout, sha
from invoice_inbox.store import blob_layout
from invoice_inbox.store.blob_folder import FolderBlobStore


def _old_blob(root: Path, data: bytes) -> str:
    path = BlobLayout.TWO_LEVEL.path(root, sha(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha(data)


def test_old_blobs_move_to_their_place_once_and_nothing_else_moves(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = FolderBlobStore(root)
    moved_one, twice, new_one = b"an old invoice", b"in both layouts", b"a new invoice"
    old_sha = _old_blob(root, moved_one)
    store.put(twice)
    _old_blob(root, twice)
    store.put(new_one)
    stray = root / old_sha[:2] / old_sha[2:4] / "notes.txt"
    stray.write_bytes(b"not a blob")

    assert blob_layout.settle(root) == 1
    assert [store.get(sha(d)) for d in (moved_one, twice, new_one)] == [moved_one, twice, new_one]
    assert [p.relative_to(root).as_posix() for p in root.glob("*/*/*")] == [
        f"{old_sha[:2]}/{old_sha[2:4]}/notes.txt"  # the folder keeps what is not a blob
    ]
    assert not (root / sha(twice)[:2] / sha(twice)[2:4]).exists()
    assert sorted(b.sha256 for b in store.list()) == sorted(
        sha(d) for d in (moved_one, twice, new_one)
    )

    late = _old_blob(root, b"written by an old process after the check")
    assert blob_layout.settle(root) == 0  # checked once: later openings only look for the marker
    assert BlobLayout.TWO_LEVEL.path(root, late).exists()


def test_a_new_blob_folder_is_marked_checked(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    FolderBlobStore(root)
    assert blob_layout.settle(root) == 0
    assert (root / blob_layout.MARKER).is_file()
    assert blob_layout.settle(tmp_path / "missing") == 0  # nothing to check, nothing made
    assert not (tmp_path / "missing").exists()

"""What creating a file costs on the benchmark's file system right now.

Every client here that stores mail creates files: mbsync one a mail (Maildir), ``fetch`` two
(the raw mail and its document, in the blob folder). On an ext4 without a journal (this VM's)
the kernel's inode allocator steps over every inode freed in the last minutes
(``recently_deleted``), so the same file costs several times more CPU just after a mass
deletion, such as the one every benchmark run makes when it removes its data. ``file_cost``
writes and renames *count* files of 50 KB into a folder of their own and gives the CPU per
file, so that a report can say which state the file system was in.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SIZE = 50 * 1024


def file_cost(folder: Path, count: int = 300) -> float:
    """Milliseconds of this process's CPU to write and rename one 50 KB file in *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(SIZE)
    began = time.process_time()
    for i in range(count):
        tmp = folder / f".{i}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, folder / str(i))
    return 1000 * (time.process_time() - began) / count

"""A fetch run in its own process, stopped or held at a step of a message's path.

    python fetch_with_observer.py DATA_DIR SOURCE kill STEP N [BATCH]
        SIGKILL this process the N-th time STEP is reached.
    python fetch_with_observer.py DATA_DIR SOURCE hold STEP READY_FILE GO_FILE
        at the first STEP, create READY_FILE and wait until GO_FILE exists.
    python fetch_with_observer.py DATA_DIR SOURCE kill-with STEP UID
        SIGKILL this process when STEP is reached for messages that include UID.

Used by the crash and lease tests: a real process dies mid-run, as it would on a power cut.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.sync import Step


def main() -> None:
    data_dir, source, mode, step = sys.argv[1:5]
    seen = 0

    def observer(reached: Step, folder: str, uids: Sequence[int]) -> None:
        nonlocal seen
        if reached != step:
            return
        seen += 1
        if mode == "kill" and seen == int(sys.argv[5]):
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "kill-with" and int(sys.argv[5]) in uids:
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "hold" and seen == 1:
            Path(sys.argv[5]).touch()
            while not Path(sys.argv[6]).exists():
                time.sleep(0.02)

    batch = int(sys.argv[6]) if mode == "kill" and len(sys.argv) > 6 else 100
    summary = runner.fetch(App.open(Path(data_dir)), source, observer=observer, batch_size=batch)
    print(f"imported={summary.imported}")


if __name__ == "__main__":
    main()

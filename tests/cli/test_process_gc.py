"""The CLI hands what its imports made to ``process_gc.settle`` before running a command: the
collector's passes then skip those objects (``gc.freeze``) and come less often."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from invoice_inbox import process_gc

_CODE = """
import gc, json, sys
sys.argv = ["invoice-inbox", "--help"]
from invoice_inbox.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_a_command_runs_with_the_imports_frozen_and_fewer_passes() -> None:
    r = subprocess.run(
        [sys.executable, "-c", _CODE],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("INVOICE_INBOX_")},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.splitlines()[-1])
    assert seen["threshold"][0] == process_gc.YOUNGEST
    assert seen["frozen"] > 20_000  # the CLI's modules and what they made

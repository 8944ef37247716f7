"""The cyclic garbage collector's settings for our processes, once their modules are imported.

What the imports made (modules, classes, SQLAlchemy's mappers, pydantic's schemas: about 100,000
objects) lives as long as the process. ``settle`` moves it out of the collector's reach
(``gc.freeze``): a full pass no longer walks it (a fetch of 10,000 mails made six such passes, and
one more at exit) and the youngest generation is collected every 10,000 new container objects
instead of CPython's 700 (that fetch made about 800 such passes). Measured with
``benchmarks/ingest.py``: the fetch process's time in the collector from about 1 s to 0.1 s.
Cyclic garbage waits a little longer for its pass; memory is unchanged to the megabyte.
"""

from __future__ import annotations

import gc

YOUNGEST = 10_000  # new container objects between two passes over the youngest generation


def settle() -> None:
    """Freeze what exists now and collect the youngest generation less often."""
    gc.freeze()
    gc.set_threshold(YOUNGEST, 10, 10)

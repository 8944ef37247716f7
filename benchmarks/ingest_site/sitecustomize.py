"""Profile a decide worker of a profiled ``ingest.py`` fetch run (``ingest_profile.py``).

``ingest_profile.py`` puts this folder on ``PYTHONPATH`` and, once its own interpreter is up,
sets ``INGEST_PROFILE_DIR``; the fetch's decide workers inherit both, so each of them runs under
``cProfile.Profile(time.thread_time)`` and writes its stats to that folder when it exits.
Without the variable this file does nothing.
"""

import os

if os.environ.get("INGEST_PROFILE_DIR"):
    import atexit
    import cProfile
    import time

    _prof = cProfile.Profile(time.thread_time)

    def _dump() -> None:
        _prof.disable()
        _prof.dump_stats(os.path.join(os.environ["INGEST_PROFILE_DIR"], f"{os.getpid()}.prof"))

    atexit.register(_dump)
    _prof.enable()

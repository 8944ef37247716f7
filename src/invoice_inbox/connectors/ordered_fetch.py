"""Download several messages at once, hand them over in the order asked for.

``ordered(get, ids, workers=4)`` runs ``get(id)`` on at most *workers* threads and yields
``(id, result)`` in the order of *ids*, skipping ids whose result is ``None`` (gone
meanwhile). At most ``2 * workers`` results wait in memory ahead of the consumer. An exception
from ``get`` is raised at that id's place, after everything before it was yielded, exactly as a
one-at-a-time loop would raise it; requests still running are waited for and nothing after it
is yielded. Closing the generator early cancels what has not started.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def ordered(
    get: Callable[[str], T | None], ids: Iterable[str], *, workers: int
) -> Iterator[tuple[str, T]]:
    """``(id, get(id))`` in the order of *ids*, fetched by up to *workers* threads."""
    items = list(ids)
    if workers <= 1 or len(items) <= 1:  # no threads for a single message
        for item in items:
            result = get(item)
            if result is not None:
                yield item, result
        return
    pending: deque[tuple[str, Future[T | None]]] = deque()
    source = iter(items)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mail-download")
    try:
        for item in source:
            pending.append((item, pool.submit(get, item)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            item, future = pending.popleft()
            result = future.result()  # raises here, in order, like the sequential loop
            nxt = next(source, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(get, nxt)))
            if result is not None:
                yield item, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

"""JSON lines parse and carry the ``log_context`` fields only inside the block, in the same thread
or task; the text format shows them in brackets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from invoice_inbox.runtime.logs import configure, current_context, log_context

log = logging.getLogger("invoice_inbox.test_logs")


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def capture(fmt: Literal["text", "json"]) -> io.StringIO:
    stream = io.StringIO()
    configure(fmt, stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_context_only_inside(root_restored: None) -> None:
    stream = capture("json")
    before = datetime.now(UTC)
    log.info("before")
    with log_context(source="acme", run=12):
        log.warning("fetched %d messages", 3)
    log.info("after")

    first, inside, after = lines(stream)
    assert set(first) == {"ts", "level", "logger", "msg"}
    assert inside == {
        "ts": inside["ts"],
        "level": "WARNING",
        "logger": "invoice_inbox.test_logs",
        "msg": "fetched 3 messages",
        "source": "acme",
        "run": 12,
    }
    assert "source" not in after and "run" not in after
    stamp = str(inside["ts"])
    assert stamp.endswith("Z")
    assert abs(datetime.fromisoformat(stamp) - before) < timedelta(seconds=5)


def test_nested_contexts_add_and_restore(root_restored: None) -> None:
    stream = capture("json")
    with log_context(source="acme"):
        log.info("source only")
        with log_context(run=12):
            log.info("both")
            with log_context(source="globex", run=None):  # None: keep the outer run
                log.info("other source")
        log.info("source again")
    log.info("nothing")

    fields = [{k: v for k, v in line.items() if k in ("source", "run")} for line in lines(stream)]
    assert fields == [
        {"source": "acme"},
        {"source": "acme", "run": 12},
        {"source": "globex", "run": 12},
        {"source": "acme"},
        {},
    ]
    assert current_context() == {}


def test_context_is_restored_after_an_exception() -> None:
    with pytest.raises(RuntimeError), log_context(source="acme"):
        raise RuntimeError("boom")
    assert current_context() == {}


def test_exceptions_appear_as_exc(root_restored: None) -> None:
    stream = capture("json")
    try:
        raise ValueError("bad date in invoice")
    except ValueError:
        with log_context(source="acme"):
            log.exception("extraction failed")

    (line,) = lines(stream)
    assert line["msg"] == "extraction failed"
    assert line["level"] == "ERROR"
    assert line["source"] == "acme"
    exc = str(line["exc"])
    assert exc.startswith("Traceback (most recent call last):")
    assert exc.rstrip().endswith("ValueError: bad date in invoice")


def test_other_threads_do_not_see_the_context(root_restored: None) -> None:
    stream = capture("json")
    with log_context(source="acme", run=1):
        worker = threading.Thread(target=lambda: log.info("from the worker"))
        worker.start()
        worker.join()
        log.info("from the caller")

    worker_line, caller_line = lines(stream)
    assert "source" not in worker_line
    assert caller_line["source"] == "acme"


def test_asyncio_tasks_keep_their_own_context(root_restored: None) -> None:
    stream = capture("json")

    async def fetch(source: str, delay: float) -> None:
        with log_context(source=source):
            await asyncio.sleep(delay)
            log.info("done")

    async def both() -> None:
        await asyncio.gather(fetch("slow", 0.05), fetch("fast", 0))

    asyncio.run(both())
    assert [(line["source"], line["msg"]) for line in lines(stream)] == [
        ("fast", "done"),
        ("slow", "done"),
    ]


def test_text_format_shows_the_bracket(root_restored: None) -> None:
    stream = capture("text")
    log.info("plain")
    with log_context(source="acme", run=12):
        try:
            raise KeyError("x")
        except KeyError:
            log.exception("failed")

    plain, failed, *traceback = stream.getvalue().splitlines()
    assert plain.endswith(" INFO invoice_inbox.test_logs plain")
    assert "[" not in plain
    assert failed.endswith(" ERROR invoice_inbox.test_logs [source=acme run=12] failed")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "KeyError: 'x'"


def test_configure_replaces_its_own_handler_and_sets_the_level(root_restored: None) -> None:
    first = capture("text")
    second = io.StringIO()
    configure("json", logging.WARNING, stream=second)
    log.info("too low")
    log.warning("kept")

    assert first.getvalue() == ""
    assert [line["msg"] for line in lines(second)] == ["kept"]
    with pytest.raises(ValueError):
        configure("xml")  # type: ignore[arg-type]


def test_reserved_names_are_refused() -> None:
    with pytest.raises(ValueError, match="msg"), log_context(msg="x"):
        pass

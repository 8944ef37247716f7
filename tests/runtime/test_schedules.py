"""Schedules: every spelling a user may type, the error sentences, and when a source is due.

The fixed-time tests check ``next_run`` against an independent oracle: a clock walked minute by
minute that runs a listed time of a date the first minute the local wall clock shows that date
and time or later. That rule alone gives "a time lost to spring forward runs when the gap ends"
and "a time that happens twice runs the first time", so the two must agree on every day.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_inbox.runtime import schedules
from invoice_inbox.runtime.schedules import (
    DEFAULT,
    At,
    Every,
    Manual,
    ScheduleError,
    backoff,
    next_run,
    parse,
)

ZONES = sorted(available_timezones())
WARSAW = "Europe/Warsaw"
SPRING_2026 = date(2026, 3, 29)  # Warsaw: 02:00 CET becomes 03:00 CEST (01:00 UTC)
AUTUMN_2026 = date(2026, 10, 25)  # Warsaw: 03:00 CEST becomes 02:00 CET (01:00 UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(day: date, hh: int, mm: int, offset_hours: float) -> datetime:
    """A wall time with a fixed UTC offset, as a UTC instant (to write expectations by hand)."""
    tz = timezone(timedelta(hours=offset_hours))
    return datetime.combine(day, time(hh, mm), tzinfo=tz).astimezone(UTC)


def t(text: str) -> time:
    return time.fromisoformat(text)


# --- the oracle and two ways of driving next_run ---


def oracle_runs(schedule: At, start: datetime, end: datetime, tick: timedelta) -> list[datetime]:
    """Ticks from start to end at which a listed time comes due by the wall-clock rule.

    The clock starts two days early without running anything, and reads once more just before
    ``start``: whatever the wall clock showed before the source existed is not run (a new source
    waits for the next listed time).
    """
    zone = ZoneInfo(schedule.zone)
    fired: set[tuple[date, time]] = set()
    runs = []
    now = start - 2 * timedelta(days=1)
    for moment in [*_ticks(now, start, tick), start - timedelta(microseconds=1)]:
        fired |= _reached(schedule, moment.astimezone(zone))
    for moment in _ticks(start, end, tick):
        due = _reached(schedule, moment.astimezone(zone)) - fired
        if due:
            runs.append(moment)
            fired |= due
    return runs


def _ticks(start: datetime, end: datetime, tick: timedelta) -> list[datetime]:
    return [start + i * tick for i in range(math.ceil((end - start) / tick))]


def _reached(schedule: At, wall: datetime) -> set[tuple[date, time]]:
    """The (local date, listed time) pairs of today and yesterday the wall clock has reached.

    Yesterday counts for a gap over midnight: Nuuk goes from 22:59 on 28 March 2026 straight to
    00:00 on the 29th, so the 28th's 23:00 is first reached at that midnight.
    """
    today = wall.date()
    days = (today - timedelta(days=1), today)
    naive = wall.replace(tzinfo=None)
    return {(d, x) for d in days for x in schedule.times if datetime.combine(d, x) <= naive}


def ticking_scheduler(
    schedule: schedules.Schedule, start: datetime, end: datetime, tick: timedelta
) -> list[datetime]:
    """A scheduler that wakes every tick, keeps the due instant and runs the source when due."""
    runs = []
    due = next_run(schedule, last_started=None, now=start)
    now = start
    while now < end:
        if due is not None and due <= now:
            runs.append(now)
            due = next_run(schedule, last_started=now, now=now)
        now += tick
    return runs


def ticking_scheduler_from(
    schedule: At, last: datetime, start: datetime, end: datetime
) -> list[datetime]:
    """A scheduler that asks next_run afresh on every tick, from the last start."""
    runs = []
    now = start
    while now < end:
        due = next_run(schedule, last_started=last, now=now)  # asked afresh on every tick
        if due is not None and due <= now:
            runs.append(now)
            last = now
        now += timedelta(minutes=1)
    return runs


def stepped(schedule: At, start: datetime, end: datetime) -> list[datetime]:
    """Run instants from next_run to next_run, each run starting exactly when due."""
    runs = []
    due = next_run(schedule, last_started=None, now=start)
    while due is not None and due < end:
        runs.append(due)
        due = next_run(schedule, last_started=due, now=due)
    return runs


# --- parse and format ---


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("every 30m", 30),
        ("every 30 min", 30),
        ("every 30 mins", 30),
        ("every 30 minutes", 30),
        ("every 1 minute", 1),
        ("every 2h", 120),
        ("every 1 hour", 60),
        ("every 3 hours", 180),
        ("every 2 hr", 120),
        ("every 90", 90),
        ("every 1d", 1440),
        ("every 7 days", 10080),
        ("every 10080m", 10080),
        ("  EVERY   30M  ", 30),
        ("Every\t2 Hours", 120),
        ("every 030m", 30),
    ],
)
def test_every_spellings(text: str, minutes: int) -> None:
    assert parse(text) == Every(minutes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at 05:00,12:00,14:00 Europe/Warsaw", At((t("05:00"), t("12:00"), t("14:00")), WARSAW)),
        ("at 5:00, 12:00", At((t("05:00"), t("12:00")), "UTC")),
        ("at 07:30", At((t("07:30"),), "UTC")),
        ("AT 14:00 , 5:00 ,12:00 europe/warsaw", At((t("05:00"), t("12:00"), t("14:00")), WARSAW)),
        ("at 12:00 05:00 12:00", At((t("05:00"), t("12:00")), "UTC")),
        ("daily at 06:00 Europe/Berlin", At((t("06:00"),), "Europe/Berlin")),
        ("at 23:59 America/St_Johns", At((t("23:59"),), "America/St_Johns")),
        ("at 0:00 utc", At((t("00:00"),), "UTC")),
        ("at 06:00 Etc/GMT+5", At((t("06:00"),), "Etc/GMT+5")),
        ("at 06:00 America/Port-au-Prince", At((t("06:00"),), "America/Port-au-Prince")),
    ],
)
def test_at_spellings(text: str, expected: At) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["manual", "Manual", " OFF ", "never", "NEVER"])
def test_manual_spellings(text: str) -> None:
    assert parse(text) == Manual()


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (Every(30), "every 30m"),
        (Every(90), "every 90m"),
        (Every(120), "every 2h"),
        (Every(60), "every 1h"),
        (Every(1440), "every 1d"),
        (Every(2880), "every 2d"),
        (Every(1500), "every 25h"),
        (At((t("14:00"), t("05:00"), t("12:00")), WARSAW), "at 05:00,12:00,14:00 Europe/Warsaw"),
        (At((t("07:30"),)), "at 07:30 UTC"),
        (Manual(), "manual"),
    ],
)
def test_format_is_canonical(schedule: schedules.Schedule, text: str) -> None:
    assert schedules.format(schedule) == text
    assert parse(text) == schedule


def test_default_is_hourly() -> None:
    assert schedules.format(DEFAULT) == "every 1h"


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("at 05:00 Europe/Warsw", "unknown time zone 'Europe/Warsw'"),
        ("at 05:00 Mars/Olympus", "'Mars/Olympus'"),
        ("at 05:00 Europe", "'Europe'"),
        ("at 05:00 ../etc/passwd", "'../etc/passwd'"),
        ("at 25:00", "'25:00' is not a time of day (HH:MM)"),
        ("at 12:60 Europe/Warsaw", "'12:60'"),
        ("at 5pm", "'5pm'"),
        ("at 05:00:30", "'05:00:30'"),
        ("at 05:00,,noon UTC", "'noon'"),
        ("at Europe/Warsaw 05:00", "'Europe/Warsaw'"),
        ("at", "'at' needs at least one time"),
        ("at Europe/Warsaw", "'at' needs at least one time"),
        ("every 0m", "'every 0m'"),
        ("every 0", "'every 0'"),
        ("every -5m", "'-5m'"),
        ("every 8d", "'every 8d'"),
        ("every 10081 minutes", "'every 10081 minutes'"),
        ("every 99999999999999999999999999999h", "'every 99999999999999999999999999999h'"),
        ("every 1.5h", "'1.5h'"),
        ("every 30 fortnights", "'30 fortnights'"),
        ("every half hour", "'half hour'"),
        ("every", "'every' needs an interval"),
        ("", "the schedule is empty"),
        ("   ", "the schedule is empty"),
        ("hourly", "'hourly' is not a schedule"),
        ("every30m", "'every30m'"),
        ("cron 0 5 * * *", "'cron 0 5 * * *'"),
    ],
)
def test_errors_name_the_bad_text_and_show_the_accepted_forms(text: str, bad: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse(text)
    message = str(caught.value)
    assert bad in message
    assert re.search(r"'every 30m'|Europe/Warsaw", message), message  # shows a form that works
    assert "\n" not in message
    assert not re.search(r"\.\s+[A-Z]", message), "one sentence"


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


def test_an_absurdly_long_input_gives_a_short_message() -> None:
    with pytest.raises(ScheduleError) as caught:
        parse("at " + "x" * 10_000)
    assert len(str(caught.value)) < 200


def test_constructors_normalise_and_validate() -> None:
    s = At((t("14:00"), t("05:00"), t("14:00")), "europe/WARSAW")
    assert s.times == (t("05:00"), t("14:00"))
    assert s.zone == WARSAW
    assert At((t("05:00"),)).zone == "UTC"
    for bad in (0, -1, 10081, True, 1.5):
        with pytest.raises(ScheduleError):
            Every(bad)  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="at least one time"):
        At(())
    with pytest.raises(ScheduleError, match="whole minutes"):
        At((time(5, 0, 30),))
    with pytest.raises(ScheduleError, match="unknown time zone 'Nowhere'"):
        At((t("05:00"),), "Nowhere")


minutes_st = st.integers(min_value=1, max_value=schedules.MAX_MINUTES)
time_st = st.builds(time, st.integers(0, 23), st.integers(0, 59))
times_st = st.lists(time_st, min_size=1, max_size=6)


@given(minutes_st)
def test_every_round_trips(minutes: int) -> None:
    s = Every(minutes)
    assert parse(schedules.format(s)) == s


@given(times_st, st.sampled_from(ZONES))
def test_at_round_trips_in_every_zone(times: list[time], zone: str) -> None:
    s = At(tuple(times), zone)
    text = schedules.format(s)
    assert parse(text) == s
    assert schedules.format(parse(text)) == text


def _scramble_case(text: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flips[i % len(flips)] else c.lower() for i, c in enumerate(text))


@given(
    st.sampled_from(
        [(1, "m"), (1, " min"), (1, " minutes"), (60, "h"), (60, " hours"), (1440, "d")]
    ),
    st.integers(1, 400),
    st.lists(st.booleans(), min_size=1, max_size=8),
    st.sampled_from([" ", "  ", "\t", " \t "]),
)
def test_every_spelled_loosely(
    unit: tuple[int, str], n: int, flips: list[bool], space: str
) -> None:
    factor, word = unit
    text = _scramble_case(f"{space}every{space}{n}{word}{space}", flips)
    if 1 <= n * factor <= schedules.MAX_MINUTES:
        assert parse(text) == Every(n * factor)
    else:
        with pytest.raises(ScheduleError, match=str(n)):
            parse(text)


@given(times_st, st.sampled_from(ZONES), st.sampled_from([",", ", ", " ,", " "]), st.booleans())
def test_at_spelled_loosely(times: list[time], zone: str, sep: str, short_hour: bool) -> None:
    spelled = [f"{x.hour}:{x.minute:02d}" if short_hour else x.strftime("%H:%M") for x in times]
    text = f" AT {sep.join(spelled)}  {zone.swapcase()} "
    assert parse(text) == At(tuple(times), zone)


# --- next_run: every N minutes and manual ---


def test_every_never_run_is_due_now() -> None:
    now = utc(2026, 5, 4, 10, 17, 3)
    assert next_run(Every(30), last_started=None, now=now) == now


def test_every_is_interval_after_last_start() -> None:
    last = utc(2026, 5, 4, 10, 0)
    assert next_run(Every(30), last_started=last, now=last) == utc(2026, 5, 4, 10, 30)
    assert next_run(Every(120), last_started=last, now=utc(2026, 5, 4, 10, 5)) == utc(
        2026, 5, 4, 12, 0
    )


def test_every_long_overdue_runs_once_then_resumes_its_rhythm() -> None:
    start = utc(2026, 5, 4, 9, 0)
    # the service was down for three days: the source is due now, once
    now = start + timedelta(days=3)
    due = next_run(Every(30), last_started=start, now=now)
    assert due is not None and due <= now
    runs = ticking_scheduler(Every(30), now, now + timedelta(hours=2), timedelta(minutes=1))
    assert runs == [now + timedelta(minutes=m) for m in (0, 30, 60, 90)]


def test_every_over_a_dst_change_counts_real_minutes() -> None:
    last = local(SPRING_2026, 1, 30, 1)  # 01:30 CET
    due = next_run(Every(60), last_started=last, now=last)
    assert due == last + timedelta(hours=1)
    assert due.astimezone(ZoneInfo(WARSAW)).time() == t("03:30")  # the wall clock jumped


def test_results_are_utc_whatever_zone_comes_in() -> None:
    warsaw_now = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo(WARSAW))
    due = next_run(Every(30), last_started=warsaw_now, now=warsaw_now)
    assert due == utc(2026, 7, 1, 10, 30)
    assert due.tzinfo is UTC


def test_manual_is_never_due() -> None:
    assert next_run(Manual(), last_started=None, now=utc(2026, 1, 1)) is None
    assert next_run(Manual(), last_started=utc(2025, 1, 1), now=utc(2026, 1, 1)) is None


@pytest.mark.parametrize("schedule", [Every(30), At((t("05:00"),)), Manual()])
def test_naive_datetimes_are_refused(schedule: schedules.Schedule) -> None:
    with pytest.raises(ValueError, match="now must be an aware"):
        next_run(schedule, last_started=None, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="last_started must be an aware"):
        next_run(schedule, last_started=datetime(2026, 1, 1), now=utc(2026, 1, 1))


# --- next_run: fixed times ---

WORKDAY = At((t("05:00"), t("12:00"), t("14:00")), WARSAW)


def test_never_run_fixed_times_wait_for_the_next_listed_time() -> None:
    assert next_run(WORKDAY, last_started=None, now=utc(2026, 1, 14, 9, 0)) == utc(
        2026, 1, 14, 11, 0
    )
    after_last = utc(2026, 1, 14, 13, 0, 1)
    assert next_run(WORKDAY, last_started=None, now=after_last) == utc(2026, 1, 15, 4, 0)
    exactly = utc(2026, 1, 14, 11, 0)  # created on the stroke of 12:00 local: due at once
    assert next_run(WORKDAY, last_started=None, now=exactly) == exactly


def test_fixed_times_in_winter_are_utc_plus_one() -> None:
    day = date(2026, 1, 14)
    runs = stepped(WORKDAY, utc(2026, 1, 14), utc(2026, 1, 15))
    assert runs == [local(day, 5, 0, 1), local(day, 12, 0, 1), local(day, 14, 0, 1)]
    assert runs == [utc(2026, 1, 14, 4), utc(2026, 1, 14, 11), utc(2026, 1, 14, 13)]


def test_fixed_times_in_summer_are_utc_plus_two() -> None:
    runs = stepped(WORKDAY, utc(2026, 7, 14), utc(2026, 7, 15))
    assert runs == [utc(2026, 7, 14, 3), utc(2026, 7, 14, 10), utc(2026, 7, 14, 12)]


def test_fixed_times_follow_last_start_not_now() -> None:
    last = utc(2026, 1, 14, 4, 0, 2)  # the 05:00 run started
    for now in (last, utc(2026, 1, 14, 10), utc(2026, 1, 20)):
        assert next_run(WORKDAY, last_started=last, now=now) == utc(2026, 1, 14, 11)


def test_fixed_times_long_overdue_run_once_then_resume() -> None:
    last = utc(2026, 1, 10, 13, 0)  # 14:00 local, then the service was down
    now = utc(2026, 1, 14, 9, 30)
    runs = ticking_scheduler_from(WORKDAY, last, now, now + timedelta(days=1))
    assert runs == [now, utc(2026, 1, 14, 11), utc(2026, 1, 14, 13), utc(2026, 1, 15, 4)]


def test_spring_forward_runs_a_lost_time_once_when_the_gap_ends() -> None:
    s = At((t("02:30"),), WARSAW)
    runs = stepped(s, utc(2026, 3, 27), utc(2026, 4, 1))
    assert runs == [
        local(date(2026, 3, 27), 2, 30, 1),
        local(date(2026, 3, 28), 2, 30, 1),
        local(SPRING_2026, 3, 0, 2),  # 02:30 does not exist: 03:00 CEST, the gap's end
        local(date(2026, 3, 30), 2, 30, 2),
        local(date(2026, 3, 31), 2, 30, 2),
    ]
    assert runs[2] == utc(2026, 3, 29, 1, 0)


def test_fall_back_runs_a_doubled_time_once_at_its_first_occurrence() -> None:
    s = At((t("02:30"),), WARSAW)
    runs = stepped(s, utc(2026, 10, 23), utc(2026, 10, 28))
    assert runs == [
        local(date(2026, 10, 23), 2, 30, 2),
        local(date(2026, 10, 24), 2, 30, 2),
        local(AUTUMN_2026, 2, 30, 2),  # 02:30 CEST, not again at 02:30 CET an hour later
        local(date(2026, 10, 26), 2, 30, 1),
        local(date(2026, 10, 27), 2, 30, 1),
    ]
    assert runs[2] == utc(2026, 10, 25, 0, 30)
    after_first = runs[2] + timedelta(seconds=5)
    assert next_run(s, last_started=after_first, now=utc(2026, 10, 25, 1, 30)) == runs[3]


def test_times_swallowed_by_one_gap_run_once_together() -> None:
    s = At((t("02:00"), t("02:30"), t("03:00"), t("03:30")), WARSAW)
    runs = stepped(s, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert runs == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)]


def _expected_warsaw(days: list[date], special: dict[date, list[datetime]]) -> list[datetime]:
    expected = []
    for day in days:
        if day in special:
            expected += special[day]
            continue
        offset = 2 if SPRING_2026 < day < AUTUMN_2026 else 1
        expected += [local(day, h, m, offset) for h, m in ((2, 30), (5, 0), (12, 0), (14, 0))]
    return expected


NIGHT_AND_DAY = At((t("02:30"), t("05:00"), t("12:00"), t("14:00")), WARSAW)


@pytest.mark.parametrize("second", [0, 17])
def test_minute_clock_over_the_spring_forward_week(second: int) -> None:
    start = datetime(2026, 3, 25, 0, 0, second, tzinfo=ZoneInfo(WARSAW)).astimezone(UTC)
    end = start + timedelta(days=7)
    runs = ticking_scheduler(NIGHT_AND_DAY, start, end, timedelta(minutes=1))
    days = [date(2026, 3, 25) + timedelta(days=i) for i in range(7)]
    spring = [
        local(SPRING_2026, 3, 0, 2),
        local(SPRING_2026, 5, 0, 2),
        local(SPRING_2026, 12, 0, 2),
        local(SPRING_2026, 14, 0, 2),
    ]
    expected = _expected_warsaw(days, {SPRING_2026: spring})
    assert runs == [x + timedelta(seconds=second) for x in expected]
    assert runs == oracle_runs(NIGHT_AND_DAY, start, end, timedelta(minutes=1))


@pytest.mark.parametrize("second", [0, 17])
def test_minute_clock_over_the_fall_back_week(second: int) -> None:
    start = datetime(2026, 10, 22, 0, 0, second, tzinfo=ZoneInfo(WARSAW)).astimezone(UTC)
    end = start + timedelta(days=7)
    runs = ticking_scheduler(NIGHT_AND_DAY, start, end, timedelta(minutes=1))
    days = [date(2026, 10, 22) + timedelta(days=i) for i in range(7)]
    autumn = [
        local(AUTUMN_2026, 2, 30, 2),
        local(AUTUMN_2026, 5, 0, 1),
        local(AUTUMN_2026, 12, 0, 1),
        local(AUTUMN_2026, 14, 0, 1),
    ]
    expected = _expected_warsaw(days, {AUTUMN_2026: autumn})
    assert runs == [x + timedelta(seconds=second) for x in expected]
    assert runs == oracle_runs(NIGHT_AND_DAY, start, end, timedelta(minutes=1))


def test_a_whole_year_in_warsaw_runs_every_listed_time_once_a_day() -> None:
    zone = ZoneInfo(WARSAW)
    runs = stepped(NIGHT_AND_DAY, utc(2025, 12, 31, 23), utc(2026, 12, 31, 23))
    by_day: dict[date, list[time]] = {}
    for run in runs:
        wall = run.astimezone(zone)
        by_day.setdefault(wall.date(), []).append(wall.time())
    assert len(by_day) == 365
    listed = list(NIGHT_AND_DAY.times)
    for day, walls in by_day.items():
        if day == SPRING_2026:
            assert walls == [t("03:00"), *listed[1:]]
        else:
            assert walls == listed, day
    assert len(runs) == len(set(runs)) == 365 * 4


def test_auckland_local_day_is_ahead_of_utc() -> None:
    s = At((t("06:00"), t("18:00")), "Pacific/Auckland")
    now = utc(2026, 1, 15, 0, 0)  # 13:00 NZDT on 15 January
    assert next_run(s, last_started=None, now=now) == utc(2026, 1, 15, 5, 0)  # 18:00 +13
    assert next_run(s, last_started=utc(2026, 1, 15, 5, 0), now=now) == utc(2026, 1, 15, 17, 0)
    winter = utc(2026, 7, 15, 0, 0)  # 12:00 NZST (+12)
    assert next_run(s, last_started=None, now=winter) == utc(2026, 7, 15, 6, 0)


def test_auckland_dst_changes() -> None:
    s = At((t("02:30"),), "Pacific/Auckland")
    # 5 April 2026: 03:00 NZDT becomes 02:00 NZST; 02:30 happens twice, runs at the first
    assert stepped(s, utc(2026, 4, 4, 0), utc(2026, 4, 5, 12)) == [utc(2026, 4, 4, 13, 30)]
    # 27 September 2026: 02:00 NZST becomes 03:00 NZDT; 02:30 runs at 03:00 NZDT (14:00 UTC)
    assert stepped(s, utc(2026, 9, 26, 0), utc(2026, 9, 27, 0)) == [utc(2026, 9, 26, 14, 0)]


def test_st_johns_half_hour_offset() -> None:
    s = At((t("09:00"), t("23:45")), "America/St_Johns")
    assert stepped(s, utc(2026, 1, 14, 12), utc(2026, 1, 15, 12)) == [
        utc(2026, 1, 14, 12, 30),  # 09:00 NST (-03:30)
        utc(2026, 1, 15, 3, 15),  # 23:45 NST, the next UTC day
    ]
    assert stepped(s, utc(2026, 7, 14, 11), utc(2026, 7, 15, 11)) == [
        utc(2026, 7, 14, 11, 30),  # 09:00 NDT (-02:30)
        utc(2026, 7, 15, 2, 15),
    ]


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("Pacific/Auckland", utc(2026, 3, 30)),
        ("Pacific/Auckland", utc(2026, 9, 22)),
        ("America/St_Johns", utc(2026, 3, 4)),
        ("America/St_Johns", utc(2026, 10, 28)),
        ("Australia/Lord_Howe", utc(2026, 4, 1)),  # a 30-minute DST shift
        ("America/Santiago", utc(2026, 4, 1)),  # changes at midnight
        ("America/Santiago", utc(2026, 9, 2)),
        ("Pacific/Kiritimati", utc(2026, 6, 1)),  # UTC+14
        ("Pacific/Pago_Pago", utc(2026, 6, 1)),  # UTC-11
        ("America/Nuuk", utc(2026, 3, 25)),  # its gap spans midnight: 23:00-00:00 on 28 March
        ("Africa/Cairo", utc(2026, 4, 20)),  # springs forward at midnight
    ],
)
def test_far_zones_agree_with_the_wall_clock_oracle(zone: str, start: datetime) -> None:
    s = At(
        (t("00:00"), t("00:30"), t("01:30"), t("02:00"), t("02:30"), t("09:15"), t("23:30")), zone
    )
    end = start + timedelta(days=8)
    assert stepped(s, start, end) == oracle_runs(s, start, end, timedelta(minutes=1))


@cache
def _offset_changes_2026(zone: str) -> tuple[datetime, ...]:
    """The instants (to the minute) in 2026 at which the zone's UTC offset changes."""
    tz = ZoneInfo(zone)

    def offset(moment: datetime) -> timedelta | None:
        return moment.astimezone(tz).utcoffset()

    weeks = [utc(2026, 1, 1) + timedelta(weeks=i) for i in range(54)]
    if len({offset(w) for w in weeks}) == 1:  # no change lasts under a week
        return ()
    days = [utc(2026, 1, 1) + timedelta(days=i) for i in range(366)]
    offsets = [offset(d) for d in days]
    changes = []
    for i, (before, after) in enumerate(itertools.pairwise(offsets)):
        if before == after:
            continue
        a, b = days[i], days[i + 1]
        while b - a > timedelta(minutes=1):
            middle = (a + (b - a) / 2).replace(second=0, microsecond=0)
            a, b = (a, middle) if offset(middle) != before else (middle, b)
        changes.append(b)
    return tuple(changes)


@cache
def _changing_zones() -> list[str]:
    return [z for z in ZONES if _offset_changes_2026(z)]


@st.composite
def around_a_change(draw: st.DrawFn) -> tuple[At, datetime]:
    """A zone, listed times clustered on the wall clock at one of its 2026 changes, a start."""
    zone = draw(st.sampled_from(_changing_zones()))
    change = draw(st.sampled_from(_offset_changes_2026(zone)))
    wall = (change - timedelta(minutes=1)).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    near = st.integers(-120, 120).map(lambda m: (wall + timedelta(minutes=m)).time())
    times = draw(st.lists(near, min_size=1, max_size=5)) + draw(st.lists(time_st, max_size=2))
    start = change - timedelta(minutes=draw(st.integers(0, 36 * 60)))
    return At(tuple(times), zone), start


def test_the_dst_search_found_the_warsaw_changes() -> None:
    assert _offset_changes_2026(WARSAW) == (utc(2026, 3, 29, 1), utc(2026, 10, 25, 1))
    assert len(_changing_zones()) > 100
    assert _offset_changes_2026("Asia/Tokyo") == ()


@settings(max_examples=150, deadline=None)
@given(around_a_change())
def test_any_zone_around_its_offset_changes_agrees_with_the_oracle(
    case: tuple[At, datetime],
) -> None:
    s, start = case
    end = start + timedelta(days=2)
    assert stepped(s, start, end) == oracle_runs(s, start, end, timedelta(minutes=1))


@settings(max_examples=60, deadline=None)
@given(
    times_st,
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)),
)
def test_fixed_times_result_is_after_last_start_and_on_a_listed_wall_time(
    times: list[time], zone: str, last_naive: datetime
) -> None:
    s = At(tuple(times), zone)
    tz = ZoneInfo(zone)
    last = last_naive.replace(tzinfo=UTC)
    due = next_run(s, last_started=last, now=last)
    assert due is not None
    assert last < due <= last + timedelta(days=2)
    wall = due.astimezone(tz).replace(tzinfo=None)
    if wall.time() not in s.times:  # only the end of a gap may stand in for a listed time
        assert (due - timedelta(seconds=1)).astimezone(tz).utcoffset() != due.astimezone(
            tz
        ).utcoffset()


# --- backoff ---


class _Edge(random.Random):
    """An rng that always picks one end of the range."""

    def __init__(self, high: bool) -> None:
        super().__init__()
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def test_backoff_doubles_up_to_the_cap() -> None:
    top = [backoff(n, rng=_Edge(high=True)) for n in range(1, 10)]
    assert top == [60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0, 3600.0]
    assert backoff(3, base=10.0, cap=30.0, rng=_Edge(high=True)) == 30.0
    assert backoff(10**6, rng=_Edge(high=True)) == 3600.0  # no overflow


def test_backoff_jitter_stays_between_half_and_all() -> None:
    assert backoff(1, rng=_Edge(high=False)) == 30.0
    assert backoff(20, rng=_Edge(high=False)) == 1800.0
    rng = random.Random(7)
    for n in range(1, 15):
        ceiling = min(3600.0, 60.0 * 2 ** (n - 1))
        for _ in range(50):
            assert ceiling / 2 <= backoff(n, rng=rng) <= ceiling
    assert 30.0 <= backoff(1) <= 60.0  # the default rng


def test_backoff_is_deterministic_with_a_seeded_rng() -> None:
    a = [backoff(n, rng=random.Random(42)) for n in range(1, 8)]
    b = [backoff(n, rng=random.Random(42)) for n in range(1, 8)]
    assert a == b
    assert len(set(a)) == len(a)


def test_backoff_counts_failures_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff(0)

"""Source schedules: parse the text a user types, format it back, and say when a source is due.

Three kinds: ``every 30m`` (an interval after the last start), ``at 05:00,12:00 Europe/Warsaw``
(fixed local times of day) and ``manual`` (never on its own). Everything here is pure: the caller
passes the last start and the current time, both aware, and gets an aware UTC instant back.

Fixed times and daylight saving time: each listed time runs once per local day. A time that does
not exist that day (spring forward: 02:30 in Warsaw on 29 March 2026) runs at the first instant
after the gap (03:00 local). A time that happens twice (fall back: 02:30 on 25 October 2026) runs
at its first occurrence only. Listed times that fall into the same gap run once, together.
"""

from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from invoice_inbox.i18n import N_, _

MAX_MINUTES = 7 * 24 * 60

# The sentences of ScheduleError are translated when raised (while answering a reader); what
# the user writes ('every 30m', 'manual') stays as it is: the parser reads only these words.
_EXAMPLES = N_("'every 30m', 'every 2h', 'at 05:00,12:00 Europe/Warsaw' or 'manual'")
_INTERVAL_EXAMPLES = N_("e.g. 'every 30m', 'every 2h' or 'every 1d'")
_AT_EXAMPLE = N_("e.g. 'at 05:00,12:00 Europe/Warsaw'")
_UNITS = {
    "": 1,
    "m": 1,
    "min": 1,
    "mins": 1,
    "minute": 1,
    "minutes": 1,
    "h": 60,
    "hr": 60,
    "hrs": 60,
    "hour": 60,
    "hours": 60,
    "d": 1440,
    "day": 1440,
    "days": 1440,
}
_MANUAL_WORDS = {"manual", "off", "never"}
_EVERY = re.compile(r"every(?:\s+(?P<rest>.*))?", re.IGNORECASE | re.ASCII)
_INTERVAL = re.compile(r"(?P<n>[0-9]+)\s*(?P<unit>[a-z]*)", re.IGNORECASE | re.ASCII)
_AT = re.compile(r"(?:daily\s+)?at(?:\s+(?P<rest>.*))?", re.IGNORECASE | re.ASCII)
_TIME = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})", re.ASCII)


class ScheduleError(ValueError):
    """A schedule text is not valid; str() is one sentence naming the fault and the right forms."""


@dataclass(frozen=True)
class Every:
    """Run ``minutes`` after the last start (1 minute to 7 days); a never-run source is due now."""

    minutes: int

    def __post_init__(self) -> None:
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, int):
            raise ScheduleError(
                _("the interval must be whole minutes, not %(value)r") % {"value": self.minutes}
            )
        if not 1 <= self.minutes <= MAX_MINUTES:
            raise ScheduleError(_outside(f"'every {self.minutes}m'"))


@dataclass(frozen=True)
class At:
    """Run at fixed local times of day in an IANA zone.

    The constructor sorts the times and drops duplicates, and spells the zone as the system's
    time zone database does (``europe/warsaw`` becomes ``Europe/Warsaw``). Times are whole minutes
    without a tzinfo; an unknown zone or an empty list raises ScheduleError.
    """

    times: tuple[time, ...]
    zone: str = "UTC"

    def __post_init__(self) -> None:
        times = tuple(sorted(set(self.times)))
        if not times:
            raise ScheduleError(_no_time())
        for t in times:
            if t.tzinfo is not None or t.second or t.microsecond:
                raise ScheduleError(
                    _("%(value)s is not a time of day in whole minutes (HH:MM)")
                    % {"value": _quote(str(t))}
                )
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "zone", _canonical_zone(self.zone))


@dataclass(frozen=True)
class Manual:
    """Never run on a schedule; only when someone asks."""


Schedule = Every | At | Manual
DEFAULT = Every(60)


def _outside(text: str) -> str:
    return _("%(value)s is outside 1 minute to 7 days; write %(examples)s") % {
        "value": text,
        "examples": _(_INTERVAL_EXAMPLES),
    }


def _no_time() -> str:
    return _("'at' needs at least one time of day (HH:MM), %(example)s") % {
        "example": _(_AT_EXAMPLE)
    }


def _quote(token: str) -> str:
    """The user's text in quotes for a message, shortened when it is long."""
    return f"'{token}'" if len(token) <= 60 else f"'{token[:57]}...'"


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def _canonical_zone(name: str) -> str:
    key = _zone_names().get(name.lower(), name)
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            _("unknown time zone %(zone)s; use an IANA name such as 'Europe/Warsaw' or 'UTC'")
            % {"zone": _quote(name)}
        ) from None
    return key


# --- parsing and formatting ---


def parse(text: str) -> Schedule:
    """Read a schedule typed by a user (case-insensitive, spaces free) or raise ScheduleError."""
    clean = " ".join(text.split())
    if not clean:
        raise ScheduleError(
            _("the schedule is empty; write %(examples)s") % {"examples": _(_EXAMPLES)}
        )
    if clean.lower() in _MANUAL_WORDS:
        return Manual()
    if m := _EVERY.fullmatch(clean):
        return _parse_every(m["rest"] or "")
    if m := _AT.fullmatch(clean):
        return _parse_at(m["rest"] or "")
    raise ScheduleError(
        _("%(value)s is not a schedule; write %(examples)s")
        % {"value": _quote(clean), "examples": _(_EXAMPLES)}
    )


def _parse_every(rest: str) -> Every:
    if not rest:
        raise ScheduleError(
            _("'every' needs an interval, %(examples)s") % {"examples": _(_INTERVAL_EXAMPLES)}
        )
    m = _INTERVAL.fullmatch(rest)
    factor = _UNITS.get(m["unit"].lower()) if m else None
    if m is None or factor is None:
        raise ScheduleError(
            _("%(value)s is not an interval in minutes, hours or days; write %(examples)s")
            % {"value": _quote(rest), "examples": _(_INTERVAL_EXAMPLES)}
        )
    digits = m["n"].lstrip("0") or "0"
    minutes = int(digits) * factor if len(digits) <= 6 else MAX_MINUTES + 1
    if not 1 <= minutes <= MAX_MINUTES:
        raise ScheduleError(_outside(_quote("every " + rest)))
    return Every(minutes)


def _parse_at(rest: str) -> At:
    tokens = [t for t in re.split(r"[\s,]+", rest) if t]
    zone = "UTC"
    if tokens and tokens[-1][0].isalpha():
        zone = tokens.pop()
    if not tokens:
        raise ScheduleError(_no_time())
    return At(tuple(_parse_time(t) for t in tokens), zone)


def _parse_time(token: str) -> time:
    m = _TIME.fullmatch(token)
    if m is None or int(m["h"]) > 23 or int(m["m"]) > 59:
        raise ScheduleError(
            _("%(value)s is not a time of day (HH:MM), %(example)s")
            % {"value": _quote(token), "example": _(_AT_EXAMPLE)}
        )
    return time(int(m["h"]), int(m["m"]))


def format(schedule: Schedule) -> str:
    """The canonical text of a schedule; ``parse(format(s)) == s``."""
    match schedule:
        case Every(minutes=n) if n % 1440 == 0:
            return f"every {n // 1440}d"
        case Every(minutes=n) if n % 60 == 0:
            return f"every {n // 60}h"
        case Every(minutes=n):
            return f"every {n}m"
        case At(times=times, zone=zone):
            return f"at {','.join(t.strftime('%H:%M') for t in times)} {zone}"
        case Manual():
            return "manual"
    raise TypeError(f"not a schedule: {schedule!r}")


# --- the source form's fields ---

FIELD_MINUTES, FIELD_TIMES, FIELD_ZONE = "schedule_minutes", "schedule_times", "schedule_zone"


def from_fields(
    kind: str, minutes: str, times: str, zone: str
) -> tuple[Schedule | None, dict[str, str]]:
    """The schedule a form's fields pick, or every problem in them in the form's own words.

    *kind* is ``every`` (with *minutes*), ``at`` (with *times* and *zone*) or ``manual``; only
    the fields of the chosen kind are judged. Problems are keyed by the field they concern
    (``schedule_minutes``, ``schedule_times``, ``schedule_zone``; ``schedule`` for no choice).
    """
    errors: dict[str, str] = {}
    if kind == "manual":
        return Manual(), errors
    if kind == "every":
        text = minutes.strip()
        if not text:
            errors[FIELD_MINUTES] = f"give the minutes between fetches, 1 to {MAX_MINUTES}"
        elif not text.isascii() or not text.isdigit():
            errors[FIELD_MINUTES] = (
                f"{_quote(text)} is not a number of minutes; give a whole number "
                f"from 1 to {MAX_MINUTES} (7 days)"
            )
        elif len(digits := text.lstrip("0") or "0") > 6 or not 1 <= int(digits) <= MAX_MINUTES:
            errors[FIELD_MINUTES] = (
                f"give between 1 and {MAX_MINUTES} minutes (7 days), not {_quote(digits)}"
            )
        return (None if errors else Every(int(text))), errors
    if kind == "at":
        parsed, wrong = [], []
        for token in (t for t in re.split(r"[\s,;]+", times) if t):
            m = _TIME.fullmatch(token)
            if m is None or int(m["h"]) > 23 or int(m["m"]) > 59:
                wrong.append(_quote(token))
            else:
                parsed.append(time(int(m["h"]), int(m["m"])))
        if wrong:
            listed = ", ".join(wrong[:-1]) + (" and " if len(wrong) > 1 else "") + wrong[-1]
            verb = "are not times" if len(wrong) > 1 else "is not a time"
            errors[FIELD_TIMES] = (
                f"{listed} {verb} of day; write each as HH:MM (00:00 to 23:59), "
                "with a comma between, e.g. 05:00, 12:00"
            )
        elif not parsed:
            errors[FIELD_TIMES] = "give at least one time of day as HH:MM, e.g. 05:00, 12:00"
        name = zone.strip() or "UTC"
        if name.lower() not in _zone_names():
            close = _closest_zone(name)
            hint = f"the closest is {close}" if close else "choose one, e.g. Europe/Warsaw or UTC"
            errors[FIELD_ZONE] = f"{_quote(name)} is not a time zone from the list; {hint}"
        if errors:
            return None, errors
        return At(tuple(parsed), name), errors
    errors["schedule"] = "choose every N minutes, fixed times of day, or only by hand"
    return None, errors


def _closest_zone(name: str) -> str | None:
    """The known time zone spelt most like *name*, if one is close."""
    names = _zone_names()
    found = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.75)
    return names[found[0]] if found else None


# --- when is a source due ---


def next_run(
    schedule: Schedule, *, last_started: datetime | None, now: datetime
) -> datetime | None:
    """The UTC instant the source is next due, or None for a manual source.

    A result at or before ``now`` means "due now"; after a long outage that is one run, not one
    per missed turn. ``Every``: the last start plus the interval, or ``now`` when never run.
    ``At``: the first listed local time strictly after the last start. A never-run ``At`` source
    is not run at once: it waits for the first listed time at or after ``now``. A caller that
    asks again on every tick must therefore keep that answer (or pass the moment the schedule
    was set as ``last_started``), or the answer moves forward with ``now`` and never comes due.
    """
    now = _utc(now, "now")
    last = None if last_started is None else _utc(last_started, "last_started")
    match schedule:
        case Manual():
            return None
        case Every(minutes=n):
            return now if last is None else last + timedelta(minutes=n)
        case At():
            if last is None:
                return _next_at(schedule, now, inclusive=True)
            return _next_at(schedule, last, inclusive=False)
    raise TypeError(f"not a schedule: {schedule!r}")


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _next_at(schedule: At, after: datetime, *, inclusive: bool) -> datetime:
    """The first run instant after ``after`` (or at it, when inclusive).

    Run instants never decrease as (local date, listed time) increases, so the first one past
    ``after`` in that order is the answer. Starting a day early is cheap and covers a clock that
    was just turned back over midnight.
    """
    zone = ZoneInfo(schedule.zone)
    start = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(8):
        day = start + timedelta(days=offset)
        for t in schedule.times:
            instant = _run_instant(day, t, zone)
            if instant > after or (inclusive and instant == after):
                return instant
    raise AssertionError(f"no run of {format(schedule)!r} within a week of {after}")


def _run_instant(day: date, t: time, zone: ZoneInfo) -> datetime:
    """The UTC instant local ``day`` ``t`` runs: its first occurrence, or the end of a gap."""
    wall = datetime.combine(day, t)
    first = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the earlier of two occurrences
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    return _gap_end(wall, zone)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant ending the gap that swallows the local time ``wall``.

    Inside a gap, fold=1 reads ``wall`` with the offset after the change and fold=0 with the one
    before, which brackets the transition; bisect it to the second.
    """
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())  # local clock still before wall
    high = int(wall.replace(tzinfo=zone, fold=0).timestamp())  # local clock past the gap
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


# --- retrying after failures ---


def backoff(
    failures: int, *, base: float = 60.0, cap: float = 3600.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number ``failures`` (1 = after the first failure).

    Exponential, ``base * 2 ** (failures - 1)`` capped at ``cap``, then scaled by a random factor
    between 0.5 and 1 so that sources failing together spread out but never retry at once.
    """
    if failures < 1:
        raise ValueError(f"failures counts from 1, got {failures}")
    ceiling = min(cap, base * 2.0 ** min(failures - 1, 64))
    return ceiling * (random.uniform(0.5, 1.0) if rng is None else rng.uniform(0.5, 1.0))

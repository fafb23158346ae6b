"""Time buckets for the aggregates: which minute and hour a turn counts in, and which buckets to read
for "the last N minutes" so that no read is a scan and a long window reads few items.

A window of N minutes is the N UTC minute buckets that end with the current one (so it includes the
turns of the minute under way). Each whole hour inside it is read from the hour's bucket, the ragged
edge from minute buckets: at most 59 minute buckets plus one per hour. The hour the window ends in
counts as whole when the window starts at or before its first minute, because no turn after now exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_WINDOW_MINUTES = 60
MAX_WINDOW_MINUTES = 14 * 24 * 60  # the aggregates' TTL: older buckets are gone
PARAMETER = "minutes"

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


class WindowError(ValueError):
    """A window parameter that is not a whole number of minutes within the bounds."""


def minute_of(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).replace(second=0, microsecond=0)


def minute_key(minute: datetime) -> str:
    return minute.strftime("%Y-%m-%dT%H:%M")  # 2026-11-24T12:05


def hour_key(minute: datetime) -> str:
    return minute.strftime("%Y-%m-%dT%H")  # 2026-11-24T12


@dataclass(frozen=True)
class WindowPlan:
    minutes: int
    first_minute: datetime  # the oldest minute bucket in the window (UTC)
    now: datetime
    hours: tuple[datetime, ...]  # whole hours, read from hour buckets
    minute_buckets: tuple[datetime, ...]  # the rest, read from minute buckets

    def bucket_keys(self) -> list[str]:
        return [hour_key(h) for h in self.hours] + [minute_key(m) for m in self.minute_buckets]

    def describe(self) -> dict[str, str | int]:
        return {
            "minutes": self.minutes,
            "start": self.first_minute.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": self.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def plan_window(now_epoch_ms: int, minutes: int) -> WindowPlan:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_WINDOW_MINUTES:
        raise WindowError(
            f"{PARAMETER} must be a whole number from 1 to {MAX_WINDOW_MINUTES}, not {minutes!r}"
        )
    now = datetime.fromtimestamp(now_epoch_ms / 1000, UTC)
    last = minute_of(now_epoch_ms)
    first = last - (minutes - 1) * MINUTE
    hours: list[datetime] = []
    buckets: list[datetime] = []
    hour = first.replace(minute=0)
    while hour <= last:
        if hour >= first:  # whole: starts inside the window, and ends after it or at the hour's end
            hours.append(hour)
        else:
            buckets.extend(
                hour + i * MINUTE for i in range(first.minute, min(60, _minutes_until(hour, last)))
            )
        hour += HOUR
    return WindowPlan(minutes, first, now, tuple(hours), tuple(buckets))


def _minutes_until(hour: datetime, last: datetime) -> int:
    """How many of the hour's minutes are at or before `last` (60 when the hour is over)."""
    return int((last - hour) / MINUTE) + 1


def parse_minutes(raw: str | None) -> int:
    """The `minutes` query parameter: absent means the default; anything but a whole number in bounds
    is a clear error (API Gateway joins a repeated parameter with commas, which is caught here too)."""
    if raw is None:
        return DEFAULT_WINDOW_MINUTES
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        raise WindowError(
            f"{PARAMETER} must be a whole number of minutes from 1 to {MAX_WINDOW_MINUTES}, not {raw!r}"
        )
    value = int(text)
    if not 1 <= value <= MAX_WINDOW_MINUTES:
        raise WindowError(f"{PARAMETER} must be from 1 to {MAX_WINDOW_MINUTES} (14 days), not {value}")
    return value

"""Cron expressions, read by croniter (a pure computation library, the one
third-party import of the core): five fields, or six with seconds last as
croniter reads them (`* * * * * *` ticks every second), or an @-alias
(`@hourly`); evaluated in an IANA time zone. Times are ms since the epoch."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from croniter import croniter

from .errors import InvalidArgument

UTC = dt.timezone.utc


def check(expression: str, timezone: str) -> None:
    """InvalidArgument naming what is wrong with the expression or the zone."""
    fields = expression.split()
    if not (expression.startswith("@") or len(fields) in (5, 6)) or not croniter.is_valid(expression):
        raise InvalidArgument(
            f"invalid cron expression {expression[:100]!r}: use five fields (minute hour day month "
            "weekday), a sixth for seconds, or an alias such as @hourly")
    _zone(timezone)
    try:  # one that never ticks (February 30th) is as useless as one that does not read
        next_after(expression, timezone, 0)
    except InvalidArgument:
        raise
    except Exception:
        raise InvalidArgument(f"cron expression {expression[:100]!r} never ticks") from None


def _zone(timezone: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(timezone) if timezone else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(f"unknown time zone {timezone[:100]!r}: use an IANA name such as "
                              "'UTC' or 'Europe/Paris'") from None


def _at(ms: int, timezone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(_zone(timezone))


def _ms(when: dt.datetime) -> int:
    return round(when.timestamp() * 1000)


def next_after(expression: str, timezone: str, ms: int) -> int:
    """The first tick strictly after `ms`."""
    return _ms(croniter(expression, _at(ms, timezone)).get_next(dt.datetime))


def latest(expression: str, timezone: str, ms: int) -> int:
    """The last tick at or before `ms`."""
    return _ms(croniter(expression, _at(ms + 1, timezone)).get_prev(dt.datetime))


def iso(ms: int) -> str:
    """A tick time as it appears in workflow IDs: ISO 8601 in UTC, to the second."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

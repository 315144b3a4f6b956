"""Which local day a moment belongs to: its own UTC offset when it has one, else the user's zone."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

_ZERO = timedelta(0)
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Universal", "Zulu"})


def local_day(moment: datetime, zone: ZoneInfo) -> tuple[date, int | None]:
    """The local day of `moment` and its own UTC offset in minutes (None when it has none).

    A zero offset on a plain UTC timestamp (`Z`) says nothing about where the person was, so such a
    moment falls on the day of the user's time zone; a named zone (London in winter) is kept.
    """
    offset = moment.utcoffset()
    if offset != _ZERO or _names_a_zone(moment.tzinfo):
        return moment.date(), int(offset.total_seconds() // 60)
    return moment.astimezone(zone).date(), None


def _names_a_zone(tzinfo) -> bool:
    return isinstance(tzinfo, ZoneInfo) and tzinfo.key not in _UTC_NAMES

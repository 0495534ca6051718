"""Instants as integers: microseconds since the epoch, and back to UTC datetimes.

The real-time evaluator keeps every time as a 64-bit count of microseconds
(``micros``) and turns one back into a datetime only for what it reports
(``instant``). Both are on the hot path (one ``micros`` a message, one
``instant`` an instant with a change), so the compiled build does each from
the fields with the civil-calendar arithmetic of H. Hinnant's
``days_from_civil`` and its inverse, where CPython's datetime arithmetic
builds timedeltas and asks tzinfos for offsets (thousands of instructions a
call). The Python build keeps that arithmetic; tests hold the two equal over
all of ``datetime``'s range.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from segmint.clock import parse_instant

try:
    import cython

    COMPILED = cython.compiled  # a constant when Cython compiles this module: True
except ImportError:  # Cython is only needed to build the compiled core
    COMPILED = False

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH_DAY = EPOCH.toordinal()
_UTC_ZONES = (UTC, ZoneInfo("UTC"))  # the stores' rows come in ZoneInfo("UTC")
_DAY = 86_400_000_000
_FIRST = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z, as microseconds since the epoch
_AFTER_LAST = 253_402_300_800_000_000  # 10000-01-01T00:00:00Z: after datetime.max

if COMPILED:
    import_datetime()  # CPython's datetime C API, cimported by instants.pxd (as datetime_new below)


def micros(moment: datetime | str) -> int:
    """Microseconds since the epoch, exactly (a naive datetime is UTC)."""
    if moment.__class__ is datetime and moment.tzinfo in _UTC_ZONES:  # type: ignore[union-attr]
        return _utc_micros(moment)  # type: ignore[arg-type]
    if isinstance(moment, str):
        moment = parse_instant(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _MICROSECOND  # exact: timedelta // timedelta is an int, in C


def _utc_micros(moment: datetime) -> int:
    """``micros`` of a UTC datetime, from its fields.

    Subtracting the epoch asks both tzinfos for their offsets and builds a
    timedelta: 6 % of the compiled replay's instructions, against a C field
    read each here (instants.pxd types ``moment``).
    """
    if COMPILED:
        # days_from_civil: the day number of a civil date (no method call, no Python int).
        year, month = moment.year, moment.month
        year -= 1 if month <= 2 else 0
        era = year // 400  # floored, as Python's // (the compiled build keeps Python's division)
        year_of_era = year - era * 400
        day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + moment.day - 1
        day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
        days = era * 146_097 + day_of_era - 719_468
    else:
        days = moment.toordinal() - _EPOCH_DAY
    seconds = days * 86_400 + moment.hour * 3_600 + moment.minute * 60 + moment.second
    return seconds * 1_000_000 + moment.microsecond


def instant(micros: int) -> datetime:
    """The UTC datetime ``micros`` microseconds after the epoch."""
    if COMPILED and _FIRST <= micros < _AFTER_LAST:
        # The compiled build makes it from its fields through the C API: a timedelta and an
        # addition cost ~4,700 instructions, 3 % of the real-time benchmark's (one per instant
        # with a change). The civil date of a day number: H. Hinnant's days_from_civil, inverted.
        whole = micros  # a C integer in the compiled build
        days = whole // _DAY
        rest = whole - days * _DAY
        z = days + 719_468  # days since 0000-03-01
        era = z // 146_097
        day_of_era = z - era * 146_097
        year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
        day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
        shifted = (5 * day_of_year + 2) // 153  # months since March
        day = day_of_year - (153 * shifted + 2) // 5 + 1
        month = shifted + 3 if shifted < 10 else shifted - 9
        year = year_of_era + era * 400 + (1 if month <= 2 else 0)
        seconds = rest // 1_000_000
        return datetime_new(year, month, day, seconds // 3600, seconds // 60 % 60, seconds % 60,
                            rest - seconds * 1_000_000, UTC)
    return EPOCH + timedelta(0, 0, micros)  # positional: a third faster than microseconds=micros


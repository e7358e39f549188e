"""Contract times (section 1.8) as integer microseconds: parsing and formatting.

Written from the contract text only; shared by the generator and the naive oracle.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str) -> int:
    """Return epoch microseconds of a contract time; raise ValueError when invalid."""
    m = _TIME_RE.match(text)
    if m is None:
        raise ValueError(f"not a contract time: {text!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not 1970 <= year <= 2100 or second > 59:
        raise ValueError(f"time out of range: {text!r}")
    frac = m.group(7)
    micros = int((frac[1:] + "000000")[:6]) if frac else 0
    zone = m.group(8)
    if zone in ("Z", "z"):
        tz = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    local = datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    delta = local - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * SEC + delta.microseconds


def format_time(t_us: int, style: str = "s") -> str:
    """Format epoch microseconds in one of several valid contract spellings.

    Styles: ``s`` (whole seconds, exact only if t_us is whole), ``ms``, ``us``,
    ``ns`` (nine digits; the extra three are noise that must be dropped), ``+02:00``,
    ``-05:00`` (offsets, microsecond precision), ``lower`` (lower-case ``t`` and ``z``).
    """
    if style in ("+02:00", "-05:00"):
        sign = 1 if style[0] == "+" else -1
        offset = timedelta(hours=sign * int(style[1:3]))
        local = _EPOCH + timedelta(microseconds=t_us) + offset
        base = local.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{base}.{local.microsecond:06d}{style}"
    dt = _EPOCH + timedelta(microseconds=t_us)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if style == "s":
        if dt.microsecond:
            return f"{base}.{dt.microsecond:06d}Z"
        return f"{base}Z"
    if style == "ms":
        if dt.microsecond % 1000:
            return f"{base}.{dt.microsecond:06d}Z"
        return f"{base}.{dt.microsecond // 1000:03d}Z"
    if style == "us":
        return f"{base}.{dt.microsecond:06d}Z"
    if style == "ns":
        return f"{base}.{dt.microsecond:06d}987Z"
    if style == "lower":
        return f"{base}.{dt.microsecond:06d}z".replace("T", "t")
    raise ValueError(style)

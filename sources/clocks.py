"""The API's clock against this machine's: how far ahead windows reach, and the skew a run saw.

An API's times are its own: a server clock hours off, or local time written with a `Z`
(Moscow time labelled UTC), stamps rows hours ahead of or behind this machine. Nothing a
run asks for may depend on the two clocks agreeing: windows reach `MAX_SKEW` past this
machine's now (a time zone is at most 14 hours from UTC), cursors never move past it, and
a row stamped in the future is loaded like any other. What the run saw is said once, as a
warning with its size: rows stamped later than the moment they were read (beyond
`TOLERANCE`), and the offset of the API's HTTP `Date` header, the only sign of a clock
that is behind.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

# The farthest a wrong zone puts a stamp from UTC (UTC+14, UTC-12): windows reach this far ahead.
MAX_SKEW = timedelta(hours=14)
# Clocks a few seconds or minutes apart are normal (NTP, latency): not reported.
TOLERANCE = timedelta(minutes=5)
R = TypeVar("R")
DATE_SAMPLES = 25  # the Date header's offset is the median of the last this many answers


def date_offset(header: str | None, received: datetime) -> timedelta | None:
    """How far the API's `Date` header is from this machine's clock when the answer came
    (None without a readable header). The header has whole seconds: the offset is exact to
    a second or two, far below `TOLERANCE`."""
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment - received


def _hours(value: timedelta) -> str:
    return f"{abs(value.total_seconds()) / 3600:.1f} h"


def skew_message(future_rows: int, most_ahead: timedelta, header_offset: timedelta | None) -> str | None:
    """The one line a run says about the API's clock, or None when nothing looks off.

    The clock's offset is the `Date` header's when it is off, else the most a row was
    stamped ahead (the newest rows were written moments before they were read)."""
    off = header_offset if header_offset is not None and abs(header_offset) > TOLERANCE else None
    if off is None and not future_rows:
        return None
    if off is None:  # the Date header is right: the stamps alone say it, a lower bound
        line = f"the API's clock looks at least {_hours(most_ahead)} ahead of this machine (or it writes another " \
               "zone's local time as UTC)"
    else:
        line = f"the API's clock looks {_hours(off)} {'ahead of' if off > timedelta(0) else 'behind'} this machine"
    if future_rows:
        return line + f": {future_rows} rows stamped in the future, by up to {_hours(most_ahead)} (loaded as stamped)"
    return line + " (its HTTP Date header); rows are loaded with the API's times as they are"


class ClockSkew:
    """What one run saw of the API's clock: rows stamped in the future and the `Date` header.

    `see_rows` is a dlt map step (it returns what it is given); `saw_answer` is called by
    the HTTP client for every answer. Both run in dlt's and the client's threads."""

    def __init__(self, tolerance: timedelta = TOLERANCE) -> None:
        self.tolerance = tolerance
        self.future_rows = 0
        self.most_ahead = timedelta(0)
        self._offsets: deque[timedelta] = deque(maxlen=DATE_SAMPLES)
        self._lock = threading.Lock()

    def saw_answer(self, date_header: str | None, received: datetime | None = None) -> None:
        offset = date_offset(date_header, received or datetime.now(UTC))
        if offset is not None:
            with self._lock:
                self._offsets.append(offset)

    def see_rows(self, item: Any) -> Any:
        """Count the rows of `item` (a row dict or an Arrow table) stamped later than now."""
        now = datetime.now(UTC)
        count = future_in_table if isinstance(item, pa.Table) else future_in_row
        rows, ahead = count(item, now, self.tolerance)
        if rows:
            with self._lock:
                self.future_rows += rows
                self.most_ahead = max(self.most_ahead, ahead)
        return item

    @property
    def header_offset(self) -> timedelta | None:
        with self._lock:
            return statistics.median(self._offsets) if self._offsets else None  # type: ignore[type-var]

    def message(self) -> str | None:
        return skew_message(self.future_rows, self.most_ahead, self.header_offset)


def future_in_row(row: Any, now: datetime, tolerance: timedelta) -> tuple[int, timedelta]:
    """(1, how far ahead) when a timestamp of the row is later than `now` + `tolerance`."""
    if not isinstance(row, dict):
        return 0, timedelta(0)
    ahead = max((v - now for v in row.values() if isinstance(v, datetime) and v.tzinfo is not None),
                default=timedelta(0))
    return (1, ahead) if ahead > tolerance else (0, timedelta(0))


def future_in_table(table: pa.Table, now: datetime, tolerance: timedelta) -> tuple[int, timedelta]:
    """The rows of an Arrow table with a timestamp later than `now` + `tolerance`, and the
    most any is ahead."""
    limit = pa.scalar(now + tolerance, type=pa.timestamp("us", tz="UTC"))
    late: Any = None
    newest: datetime | None = None
    for name in table.column_names:
        column = table.column(name)
        if not pa.types.is_timestamp(column.type) or column.type.tz is None:
            continue
        over = pc.fill_null(pc.greater(column.cast(pa.timestamp("us", tz="UTC")), limit), False)
        late = over if late is None else pc.or_(late, over)
        top = pc.max(column).as_py()
        newest = top if newest is None or (top is not None and top > newest) else newest
    rows = int(pc.sum(late).as_py() or 0) if late is not None else 0
    return (rows, newest - now) if rows and newest is not None else (0, timedelta(0))


def watched(resources: Sequence[R], clock: ClockSkew) -> tuple[R, ...]:
    """The resources, each with `clock.see_rows` as its last step: every row loaded is looked at."""
    for resource in resources:
        resource.add_map(clock.see_rows)  # type: ignore[attr-defined]
    return tuple(resources)

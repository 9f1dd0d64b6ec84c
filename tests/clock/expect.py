"""What the clock tests compute from the API's truth and read from a run's output."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

CLOCK_LINE = re.compile(r"the API's clock looks .*")
FUTURE = re.compile(r"(\d+) rows stamped in the future, by up to (\d+\.\d) h")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def clock_lines(output: str) -> list[str]:
    """The lines of a run's output about the API's clock (the report's, not the data tests')."""
    return [m.group(0) for m in CLOCK_LINE.finditer(output)]


def hours_in(line: str) -> tuple[int, float]:
    """(rows stamped in the future, by up to how many hours) of a clock line."""
    found = FUTURE.search(line)
    assert found, line
    return int(found.group(1)), float(found.group(2))


def stamps(truth: dict[str, Any], entities: Sequence[str]) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Per record of the named truth lists: the record and its top-level ISO times (records
    without any skipped)."""
    for name in entities:
        for record in truth.get(name) or []:
            found = [v for v in record.values() if isinstance(v, str) and TIME.match(v)]
            if found:
                yield record, found

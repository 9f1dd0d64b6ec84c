"""What each report and column means, in the database: `COMMENT ON` on both engines.

BI tools (Metabase, Superset, DBeaver) show a table's and a column's comment beside it.
The text comes from where analysts read it already, so the two cannot drift: a report's
comment is its model header (what docs/reports.md's model tables show), a column's is its
row in the column tables of docs/reports.md (`| \\`col\\` | meaning |` under the report's
heading, in the source's `## Leeloo` / `## Salebot` part). `tests/transforms` lists any
report column without one.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from transforms.engine import literal

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reports.md"
SOURCES = {"leeloo": "Leeloo", "salebot": "Salebot"}
_HEADING = re.compile(r"^(#{2,4}) (.*)$")
_ROW = re.compile(r"^\| (`[^|]*`) \| (.*) \|$")
_NAME = re.compile(r"`(\w+)`")


def plain(text: str) -> str:
    """Markdown made plain text for a comment: no backticks or bold."""
    return text.replace("`", "").replace("**", "").strip()


def parse(markdown: str) -> dict[str, dict[str, dict[str, str]]]:
    """{source: {report: {column: meaning}}} from the column tables; a later table wins."""
    out: dict[str, dict[str, dict[str, str]]] = {s: {} for s in SOURCES}
    source: str | None = None
    reports: list[str] = []
    for line in markdown.splitlines():
        heading = _HEADING.match(line)
        if heading:
            if len(heading.group(1)) == 2:
                source = next((s for s, title in SOURCES.items() if heading.group(2).startswith(title)), None)
                reports = []
            else:
                reports = _NAME.findall(heading.group(2))
            continue
        row = _ROW.match(line)
        if row and source and reports:
            for report in reports:
                for column in _NAME.findall(row.group(1)):
                    out[source].setdefault(report, {})[column] = plain(row.group(2))
    return out


@lru_cache(maxsize=1)
def _documented() -> dict[str, dict[str, dict[str, str]]]:
    return parse(DOCS.read_text(encoding="utf-8")) if DOCS.exists() else {s: {} for s in SOURCES}


def column_descriptions(source: str, report: str) -> dict[str, str]:
    """The documented meaning of each column of `report`."""
    return _documented().get(source, {}).get(report, {})


def comment_statements(kind: str, target: str, description: str, columns: dict[str, str]) -> list[str]:
    """`comment on` the relation and each of `columns` ({quoted name: text})."""
    statements = [f"comment on {kind} {target} is {literal(plain(description))}"]
    statements += [f"comment on column {target}.{name} is {literal(text)}" for name, text in columns.items()]
    return statements

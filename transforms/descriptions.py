"""What each model and column means, in the database: `COMMENT ON` on both engines.

BI tools (Metabase, Superset, DBeaver) show a table's and a column's comment beside it.
The text is the models' yml (`transforms/<source>/<layer>/_<layer>.yml`), the same text
docs/reports.md's tables are generated from, so the two cannot drift; raw tables take
theirs from the source's `_sources.yml` (`transforms.sources_yml`).
"""

from __future__ import annotations

from transforms.engine import literal


def plain(text: str) -> str:
    """Markdown made plain text for a comment: no backticks or bold."""
    return text.replace("`", "").replace("**", "").strip()


def comment_statements(kind: str, target: str, description: str, columns: dict[str, str]) -> list[str]:
    """`comment on` the relation and each of `columns` ({quoted name: text})."""
    statements = [f"comment on {kind} {target} is {literal(plain(description))}"]
    statements += [f"comment on column {target}.{name} is {literal(plain(text))}" for name, text in columns.items()]
    return statements

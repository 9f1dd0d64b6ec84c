"""What each model and column means, in the database: `COMMENT ON` on both engines.

BI tools (Metabase, Superset, DBeaver) show a table's and a column's comment beside it.
The text is the models' yml (`transforms/<source>/<layer>/_<layer>.yml`), the same text
docs/reports.md's tables are generated from, so the two cannot drift; raw tables take
theirs from the source's `_sources.yml` (`transforms.sources_yml`).
"""

from __future__ import annotations

from transforms.engine import Comments, literal, qualified


def plain(text: str) -> str:
    """Markdown made plain text for a comment: no backticks or bold."""
    return text.replace("`", "").replace("**", "").strip()


def comment_statements(kind: str, schema: str, relation: str, description: str, columns: dict[str, str], *,
                       current: Comments) -> list[str]:
    """`comment on` the relation and each of `columns` ({name: text}) whose comment is not
    already that text (`current`, from `transforms.engine.current_comments`): a rebuild that
    changes nothing writes nothing to the catalog (on Postgres each comment is a catalog row
    rewritten, every night, in every account)."""
    target = qualified(schema, relation)
    wanted: list[tuple[str | None, str]] = [(None, description), *columns.items()]
    statements = []
    for column, text in wanted:
        comment = plain(text)
        if current.get((relation.lower(), column.lower() if column else None), "") == comment:
            continue
        what = f"{kind} {target}" if column is None else f'column {target}."{column}"'
        statements.append(f"comment on {what} is {literal(comment)}")
    return statements

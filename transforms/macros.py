"""Macros: SQL written once, expanded in every model that calls it.

A macro is a function call a model writes like any other (so sqlfluff and sqlglot read the
file as plain PostgreSQL); ``expand`` replaces it in the parsed statement before anything
else sees the model, so rendering, padding of missing raw columns and the data tests all
work on the expanded SQL.

- ``newest_version(a.k1, a.k2, ...)`` in a WHERE clause: true for the row of the newest load
  of its key among the rows of the table aliased ``a`` (dlt appends a version per load). It
  is an anti-join, ``not exists (select 1 from <a's table> a_newer where a_newer.k1 = a.k1
  ... and a_newer._dlt_load_id > a._dlt_load_id)``, never ``rank() ... = 1``: Postgres
  estimates a window filter at 0.5% of the rows and then picks nested loops that never
  finish on real volumes. Two rows of one key in the same load both survive, so that a
  ``unique`` test reports them instead of one being picked at random.
- ``percentiles(x, 0.25, 0.5, 0.9)`` as a select item: one column per fraction,
  ``percentile_cont(f) within group (order by x)``, named ``p25_<x>``, ``median_<x>``,
  ``p90_<x>`` after x's column name (interpolated percentiles; NULL values are ignored).
"""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp

NEWEST = "newest_version"
PERCENTILES = "percentiles"
LOAD_ID = "_dlt_load_id"


class MacroError(Exception):
    """A macro call that cannot be expanded (wrong arguments, unknown alias)."""


def _calls(tree: exp.Expression, name: str) -> list[exp.Anonymous]:
    return [c for c in tree.find_all(exp.Anonymous) if str(c.this).lower() == name]


def _table_of(select: exp.Select, alias: str) -> exp.Table:
    """The table that ``alias`` names in the FROM or JOINs of ``select`` (not in subqueries)."""
    sources = [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]
    for source in sources:
        table = source.this if source is not None else None
        if isinstance(table, exp.Table) and table.alias_or_name.lower() == alias.lower():
            return table
    raise MacroError(f"{NEWEST}(): no table aliased {alias!r} in the FROM of the same select")


def _newest_version(call: exp.Anonymous) -> exp.Expression:
    keys = call.expressions
    if not keys or not all(isinstance(k, exp.Column) and k.table for k in keys):
        raise MacroError(f"{NEWEST}() takes the key columns, qualified by the table alias: {call.sql()}")
    aliases = {k.table for k in keys}
    if len(aliases) != 1:
        raise MacroError(f"{NEWEST}(): the key columns must be of one table alias: {call.sql()}")
    alias = aliases.pop()
    select = call.parent_select
    if select is None:
        raise MacroError(f"{NEWEST}() outside a select: {call.sql()}")
    table = _table_of(select, alias)
    newer = f"{alias}_newer"
    conditions = [f"{newer}.{k.name} = {alias}.{k.name}" for k in keys]
    conditions.append(f"{newer}.{LOAD_ID} > {alias}.{LOAD_ID}")
    source = exp.Table(this=table.this.copy(), db=table.args["db"].copy() if table.args.get("db") else None)
    subquery = f"select 1 from {source.sql(dialect='postgres')} {newer} where {' and '.join(conditions)}"
    return exp.Not(this=exp.Exists(this=sqlglot.parse_one(subquery, read="postgres")))


def _percentile_name(fraction: float, column: str) -> str:
    if fraction == 0.5:
        return f"median_{column}"
    return f"p{round(fraction * 100):d}_{column}"


def _percentiles(call: exp.Anonymous) -> list[exp.Expression]:
    value, *fractions = call.expressions
    if not isinstance(value, exp.Column) or not fractions:
        raise MacroError(f"{PERCENTILES}() takes a column and fractions: {call.sql()}")
    items: list[exp.Expression] = []
    for fraction in fractions:
        if not (isinstance(fraction, exp.Literal) and not fraction.is_string and 0 < float(fraction.this) < 1):
            raise MacroError(f"{PERCENTILES}(): {fraction.sql()} is not a fraction between 0 and 1")
        text = f"percentile_cont({fraction.this}) within group (order by {value.sql(dialect='postgres')})"
        expression = sqlglot.parse_one(text, read="postgres")
        items.append(exp.alias_(expression, _percentile_name(float(fraction.this), value.name)))
    return items


def expand(tree: exp.Expression, path: Path) -> exp.Expression:
    """The statement with every macro call replaced by its SQL (``tree`` is changed in place)."""
    try:
        for call in _calls(tree, NEWEST):
            call.replace(_newest_version(call))
        for call in _calls(tree, PERCENTILES):
            select = call.parent_select
            if select is None or call.parent is not select:
                raise MacroError(f"{PERCENTILES}() must be a select item of its own: {call.sql()}")
            position = select.expressions.index(call)
            items = select.expressions
            select.set("expressions", items[:position] + _percentiles(call) + items[position + 1:])
    except MacroError as exc:
        raise MacroError(f"{path}: {exc}") from exc
    return tree

"""Cross-account views: ``<source>_accounts.<report>`` = the union of every account's report.

An agency compares its clients in one query (``select * from leeloo_accounts.tunnel_funnel``)
instead of one per dataset. The views are plain ``union all`` over the accounts' report
tables, so they are always as fresh as each account's last rebuild.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transforms.engine import (
    SQL_ENGINES,
    bound_lock_waits,
    engine_name,
    ensure_schema,
    existing_objects,
    literal,
    lock_datasets,
    qualified,
    relation_shapes,
    sql_engine,
)
from transforms.models import IDENT, TransformError, load_models

logger = logging.getLogger(__name__)

ACCOUNT_COLUMN = "account"
# a catalog type name that can be written in cast(null as ...), e.g. "timestamp with time zone"
_CASTABLE_TYPE = re.compile(r"^[a-z][a-z0-9 ]*(\([0-9, ]+\))?$")


@dataclass
class AccountViewsResult:
    source: str
    dataset: str
    views: dict[str, list[str]] = field(default_factory=dict)  # view -> accounts it unites
    skipped: list[str] = field(default_factory=list)  # reports no account has built yet
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.source}: {len(self.views)} cross-account view(s) in {self.dataset}"
            + (f"; not built yet by any account: {', '.join(self.skipped)}" if self.skipped else "")
        )


def _null_of(data_type: str) -> str:
    return f"cast(null as {data_type})" if _CASTABLE_TYPE.match(data_type) else "null"


def _union_sql(model: str, members: list[tuple[str, str, list[tuple[str, str]]]], warnings: list[str]) -> str:
    """``select 'acct' as account, <columns> from <dataset>.<model> union all ...``.

    Columns are the union of the members' columns (first seen first); an account whose
    report lacks one reads it as a typed NULL. A column whose type differs between
    accounts is read as text everywhere, so the union never fails on a type clash.
    """
    types: dict[str, set[str]] = {}
    for _, _, shape in members:
        for column, data_type in shape:
            types.setdefault(column, set()).add(data_type)
    if ACCOUNT_COLUMN in types:
        raise TransformError(f"report {model} has a column named {ACCOUNT_COLUMN!r}, the union's own column")
    as_text = sorted(c for c, t in types.items() if len(t) > 1)
    if as_text:
        warnings.append(f"{model}: column(s) {', '.join(as_text)} differ in type between accounts; read as text")
    selects = []
    for account, dataset, shape in members:
        present = dict(shape)
        items = [f"{literal(account)} as {ACCOUNT_COLUMN}"]
        for column, kinds in types.items():
            name = f'"{column}"'
            if column in as_text:
                value = name if column in present else "null"
                items.append(f"cast({value} as text) as {name}")
            elif column in present:
                items.append(name)
            else:
                items.append(f"{_null_of(next(iter(kinds)))} as {name}")
        selects.append(f"select {', '.join(items)} from {qualified(dataset, model)}")
    return "\nunion all\n".join(selects)


def accounts_dataset(source: str) -> str:
    """Where the cross-account views of ``source`` live, on every destination."""
    return f"{source}_accounts"


def build_account_views(
    pipeline: Any,
    source: str,
    accounts: Sequence[tuple[str, str]],
    target_dataset: str | None = None,
    *,
    transforms_dir: Path | None = None,
) -> AccountViewsResult:
    """(Re)create in ``target_dataset`` (default ``<source>_accounts``) one view per report
    model of ``source``: the union over ``accounts`` — (account name, that account's reports
    dataset) pairs, ``'default'`` for the unnamed account — with a leading ``account`` column.

    ``pipeline`` is any pipeline on the database (or DuckDB file) that holds the accounts'
    datasets. An account without a given report yet (a first run still loading, a failed
    one) is left out of that view; a report that no account has built is skipped (its old
    view dropped). On Postgres it takes the advisory locks of the target and of every
    account's reports dataset first: no account rebuilds its reports while the views that
    read them are being replaced, and the other way round.
    """
    target = target_dataset or accounts_dataset(source)
    result = AccountViewsResult(source, target)
    if engine_name(pipeline) not in SQL_ENGINES:
        result.warnings.append(f"no cross-account views on destination {engine_name(pipeline)}")
        return result
    engine = sql_engine(pipeline)
    names = [a for a, _ in accounts]
    if len(set(names)) != len(names):
        raise TransformError(f"account names repeat: {names}")
    for dataset in [target, *(d for _, d in accounts)]:
        if not IDENT.match(dataset):
            raise TransformError(f"dataset name {dataset!r} is not a plain identifier")
    reports = [m for m in load_models(source, transforms_dir) if m.layer == "reports"]
    with pipeline.sql_client() as client, client.begin_transaction():
        bound_lock_waits(client, engine)
        if engine.shared:
            lock_datasets(client, [target, *(d for _, d in accounts)])
        ensure_schema(client, target, engine)
        shapes = relation_shapes(client, [d for _, d in accounts])
        existing = existing_objects(client, target)
        for model in reports:
            view = qualified(target, model.name)
            kind = existing.get(model.name)
            if kind == "table":
                raise TransformError(f"{target}.{model.name} is a table, not a view this function built")
            if kind:
                client.execute_sql(f"drop view {view}")
            members = [
                (a, d, shapes[(d.lower(), model.name)]) for a, d in accounts if (d.lower(), model.name) in shapes
            ]
            if not members:
                result.skipped.append(model.name)
                continue
            client.execute_sql(f"create view {view} as {_union_sql(model.name, members, result.warnings)}")
            result.views[model.name] = [a for a, _, _ in members]
    for warning in result.warnings:
        logger.warning(warning)
    logger.info("%s", result)
    return result

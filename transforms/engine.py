"""The SQL engines the reports are built on, reached through a dlt pipeline's sql_client.

Catalog reads (which tables and columns exist), the shape of a relation, the Postgres
advisory locks that serialise every rebuild of one dataset across processes and machines,
and the bound on lock waits: a reader (a dashboard, an analyst's open transaction) holding a
report makes a rebuild's statement wait for its lock; under `lock_timeout` the statement
gives up after a few seconds instead (`lock_not_available`), the transaction rolls back, the
reader keeps the previous reports and the caller retries (`pipelines.warehouse.lockwaits`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from transforms.models import TransformError

LOCK_NAMESPACE = "chatfunnel.transforms:"
LOCK_NOT_AVAILABLE = "55P03"  # Postgres' SQLSTATE for a lock wait that hit lock_timeout
_lock_timeout: ContextVar[float | None] = ContextVar("chatfunnel_lock_timeout", default=None)


@contextmanager
def lock_timeout(seconds: float | None) -> Iterator[None]:
    """Rebuilds inside this block wait at most `seconds` for each lock on Postgres (None: as
    long as the statement timeout allows)."""
    token = _lock_timeout.set(seconds)
    try:
        yield
    finally:
        _lock_timeout.reset(token)


def bound_lock_waits(client: Any, engine: SqlEngine) -> None:
    """Inside a transaction on Postgres: its statements give up waiting for a lock after the
    bound set by `lock_timeout` (`set local`: it ends with the transaction)."""
    seconds = _lock_timeout.get()
    if engine.shared and seconds:
        client.execute_sql(f"set local lock_timeout = {max(1, int(seconds * 1000))}")


def lock_not_available(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) is Postgres giving up a lock wait at lock_timeout."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "pgcode", None) == LOCK_NOT_AVAILABLE:
            return True
        current = current.__cause__ or current.__context__
    return False


def lock_holders(client: Any, schemas: Iterable[str]) -> list[dict[str, Any]]:
    """Other sessions holding a lock on a relation of `schemas` (Postgres): pid, user,
    application, client address, state and since when, the oldest transaction first."""
    names = ", ".join(literal(s) for s in schemas)
    if not names:
        return []
    return query_dicts(
        client,
        "select distinct a.pid, a.usename as user, a.application_name, host(a.client_addr) as client, a.state, "
        "a.xact_start, a.backend_start from pg_locks l join pg_class c on c.oid = l.relation "
        "join pg_namespace n on n.oid = c.relnamespace join pg_stat_activity a on a.pid = l.pid "
        f"where l.granted and l.pid <> pg_backend_pid() and n.nspname in ({names}) "
        "order by a.xact_start nulls last, a.pid",
    )


def engine_name(pipeline: Any) -> str:
    """The destination's type (`duckdb`, `postgres`), whatever name the destination has."""
    return str(pipeline.destination.destination_type).rsplit(".", 1)[-1]


def sql_engine(pipeline: Any) -> SqlEngine:
    """The SQL engine the pipeline's destination runs; a `TransformError` when it has none."""
    name = engine_name(pipeline)
    if name not in SQL_ENGINES:
        raise TransformError(
            f"reports are built on duckdb or postgres; destination {name!r} has no SQL engine "
            "to build them (load with --no-transform)"
        )
    return SQL_ENGINES[name]


def dialect(pipeline: Any) -> str:
    return sql_engine(pipeline).dialect


def query(client: Any, sql: str) -> list[tuple]:
    with client.execute_query(sql) as cursor:
        return [tuple(r) for r in cursor.fetchall()]


def query_dicts(client: Any, sql: str) -> list[dict[str, Any]]:
    with client.execute_query(sql) as cursor:
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, (plain(v) for v in row), strict=True)) for row in cursor.fetchall()]


def plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def qualified(schema: str, name: str) -> str:
    return f'"{schema}"."{name}"'


def ensure_schema(client: Any, schema: str, engine: SqlEngine) -> None:
    """Create `schema` only when it does not exist. On Postgres `create schema if not exists`
    needs CREATE on the database even when the schema is there, so a loader role working in
    schemas a DBA made (with USAGE and CREATE on each, nothing on the database) must not issue
    it. Postgres' `pg_namespace` lists every schema to every role, whatever its rights on it
    (`information_schema.schemata` hides those the role has no right on)."""
    if not query(client, engine.schema_exists.format(schema=literal(schema))):
        client.execute_sql(f'create schema if not exists "{schema}"')


def catalog_columns(client: Any, schema: str) -> dict[str, set[str]]:
    """table name -> its column names (lower case), for every table or view of ``schema``."""
    rows = query(
        client,
        "select table_name, column_name from information_schema.columns "
        f"where table_schema = {literal(schema)}",
    )
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table.lower(), set()).add(column.lower())
    return out


def relation_shapes(
    client: Any, schemas: Iterable[str], relations: Iterable[str] | None = None
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, relation), lower case -> [(column, data type)] in column order, for the
    tables and views of ``schemas`` (only those named in ``relations``, when given)."""
    names = ", ".join(literal(s) for s in schemas)
    if not names:
        return {}
    only = "" if relations is None else f" and table_name in ({', '.join(literal(r) for r in relations)})"
    rows = query(
        client,
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        f"where table_schema in ({names}){only} order by table_schema, table_name, ordinal_position",
    )
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        out.setdefault((schema.lower(), table.lower()), []).append((column, str(data_type).lower()))
    return out


def existing_objects(client: Any, schema: str) -> dict[str, str]:
    """relation name -> 'view' or 'table', for ``schema``."""
    rows = query(
        client,
        "select table_name, table_type from information_schema.tables "
        f"where table_schema = {literal(schema)}",
    )
    return {name.lower(): ("view" if "VIEW" in kind.upper() else "table") for name, kind in rows}


# (relation, column or None for the relation itself), lower case -> its comment
Comments = dict[tuple[str, str | None], str]


def current_comments(client: Any, engine: SqlEngine, schema: str) -> Comments:
    """Every comment on a relation of ``schema`` or on one of their columns, in one query."""
    rows = query(client, engine.comments.format(schema=literal(schema)))
    return {(str(relation).lower(), str(column).lower() if column else None): str(text)
            for relation, column, text in rows if text is not None}


def lock_key(dataset: str) -> int:
    """A stable signed 64-bit advisory-lock key for a dataset name (the same on every machine)."""
    digest = hashlib.blake2b((LOCK_NAMESPACE + dataset).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_datasets(client: Any, datasets: Iterable[str]) -> None:
    """Take the transaction-scoped advisory locks of ``datasets`` (Postgres only), in one
    global order so that two writers needing overlapping sets cannot deadlock each other.

    Must run inside a transaction; the locks go with its commit or rollback, so a killed
    process never leaves one behind.
    """
    for key in sorted({lock_key(d) for d in datasets}):
        client.execute_sql(f"select pg_advisory_xact_lock({key})")


def dependent_views(client: Any, engine: SqlEngine, schema: str) -> list[tuple[str, str]]:
    """Views in OTHER schemas that read a relation of ``schema`` (e.g. the cross-account
    views over an account's reports), as (schema, view) pairs."""
    return engine.dependent_views(client, schema)


def _postgres_dependent_views(client: Any, schema: str) -> list[tuple[str, str]]:
    """Postgres records what a view reads (`pg_depend`)."""
    rows = query(
        client,
        "select distinct vn.nspname, v.relname "
        "from pg_depend d "
        "join pg_rewrite r on r.oid = d.objid "
        "join pg_class v on v.oid = r.ev_class "
        "join pg_namespace vn on vn.oid = v.relnamespace "
        "join pg_class t on t.oid = d.refobjid "
        "join pg_namespace tn on tn.oid = t.relnamespace "
        f"where tn.nspname = {literal(schema)} and vn.nspname <> {literal(schema)} "
        "and v.oid <> t.oid order by 1, 2",
    )
    return [(str(s), str(v)) for s, v in rows]


def _duckdb_dependent_views(client: Any, schema: str) -> list[tuple[str, str]]:
    """DuckDB keeps no dependencies: each view's SQL is read for the tables it names."""
    import sqlglot
    from sqlglot import exp

    rows = query(
        client,
        "select schema_name, view_name, sql from duckdb_views() "
        f"where not internal and database_name = current_database() and schema_name <> {literal(schema)}",
    )
    found = []
    for view_schema, view, sql in rows:
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.ParseError:
            continue  # not one of ours: a view we cannot read cannot be one we built
        if any(t.db.lower() == schema.lower() for t in tree.find_all(exp.Table)):
            found.append((str(view_schema), str(view)))
    return sorted(found)


@dataclass(frozen=True)
class SqlEngine:
    """What building the reports needs to know of a SQL engine, so that no module branches on
    its name."""

    dialect: str  # sqlglot's name for the engine's SQL, what the models are rendered in
    # a server other sessions share (Postgres): a rebuild takes the datasets' advisory locks,
    # bounds its lock waits, refreshes the planner's statistics of what it wrote, and, since a
    # view there pins what it reads, drops with `cascade` and rebuilds a same-shape model in
    # place so that the views of other datasets over it stay valid
    shared: bool
    # one row when the schema exists, whatever the role's rights on it; `{schema}` a literal
    schema_exists: str
    # (relation, column or NULL, comment) for every comment in a schema; `{schema}` a literal
    comments: str
    dependent_views: Callable[[Any, str], list[tuple[str, str]]]

    @property
    def cascade(self) -> str:
        """What a `drop` ends with: dependants go too where views pin what they read."""
        return " cascade" if self.shared else ""


DUCKDB = SqlEngine(
    dialect="duckdb", shared=False,
    schema_exists="select 1 from information_schema.schemata where schema_name = {schema}",
    comments=(
        "select table_name, null, comment from duckdb_tables() where schema_name = {schema} "
        "and database_name = current_database() "
        "union all select view_name, null, comment from duckdb_views() where schema_name = {schema} "
        "and database_name = current_database() and not internal "
        "union all select table_name, column_name, comment from duckdb_columns() where schema_name = {schema} "
        "and database_name = current_database()"
    ),
    dependent_views=_duckdb_dependent_views,
)
POSTGRES = SqlEngine(
    dialect="postgres", shared=True,
    schema_exists="select 1 from pg_catalog.pg_namespace where nspname = {schema}",
    comments=(
        "select c.relname, a.attname, d.description from pg_catalog.pg_description d "
        "join pg_catalog.pg_class c on c.oid = d.objoid "
        "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
        "left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = d.objsubid and d.objsubid > 0 "
        "where d.classoid = 'pg_catalog.pg_class'::regclass and n.nspname = {schema}"
    ),
    dependent_views=_postgres_dependent_views,
)
SQL_ENGINES = {"duckdb": DUCKDB, "motherduck": DUCKDB, "postgres": POSTGRES}  # by dlt's destination type

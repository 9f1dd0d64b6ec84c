"""The Parquet lake (filesystem destination) read as a warehouse, and its reports.

`--destination filesystem` writes one folder per table under `<bucket_url>/<dataset>/`
with Parquet files per load. dlt's filesystem destination cannot merge plain files: tables
with a primary key are *appended* on every incremental run, so a row changed three times
is there three times. `build_lake_views` gives SQL engines the merged view back: in a
DuckDB file it creates, per raw table, a view over `read_parquet(...)` that keeps only
completed loads (listed in `_dlt_loads`) and, per primary key, the row of the newest load;
child tables (`people__tags`, ...) keep the rows whose parent row is kept; and, since
Parquet files are never updated, a deletion the source proved (`_chatfunnel_deletions`)
sets `deleted_at` in the view. The reports are
then built over those views by `transforms.runner.build_reports`, exactly as on DuckDB.
The same SQL works in Spark, Trino or BigQuery external tables over the same files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sources.bookkeeping import DELETIONS_TABLE

logger = logging.getLogger("chatfunnel.lake")

LAKE_DUCKDB_FILE = "chatfunnel_lake.duckdb"


def _is_local(bucket_url: str) -> bool:
    return "://" not in bucket_url or bucket_url.startswith("file://")


def _local_path(bucket_url: str) -> Path:
    return Path(bucket_url[len("file://"):] if bucket_url.startswith("file://") else bucket_url).expanduser().resolve()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _lake_tables(bucket_url: str, dataset: str, fs: Any = None) -> dict[str, str]:
    """{table: glob of its Parquet files} for every table folder that holds Parquet files."""
    tables: dict[str, str] = {}
    if _is_local(bucket_url):
        base = _local_path(bucket_url) / dataset
        if not base.is_dir():
            return {}
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            if any(folder.glob("*.parquet")):
                tables[folder.name] = str(folder / "*.parquet")
        return tables
    remote_base = bucket_url.rstrip("/") + "/" + dataset
    for entry in sorted(fs.ls(remote_base, detail=False)):
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if fs.glob(f"{entry.rstrip('/')}/*.parquet"):
            protocol = bucket_url.split("://", 1)[0]
            tables[name] = f"{protocol}://{entry.rstrip('/').split('://')[-1]}/*.parquet"
    return tables


def _completed_loads_sql(bucket_url: str, dataset: str) -> str | None:
    if _is_local(bucket_url):
        folder = _local_path(bucket_url) / dataset / "_dlt_loads"
        if not folder.is_dir() or not any(folder.iterdir()):
            return None
        pattern = str(folder / "*")
    else:
        pattern = bucket_url.rstrip("/") + f"/{dataset}/_dlt_loads/*"
    return (
        f"select cast(load_id as varchar) as load_id from read_json_auto({_lit(pattern)}, "
        "format = 'newline_delimited') where status = 0"
    )


class _SchemaHints:
    """What the dlt schema says of a lake table: its primary key and its parent table."""

    def __init__(self, schema: Any) -> None:
        self.tables: dict[str, Any] = schema.tables if schema is not None else {}

    def primary_key(self, table: str) -> list[str]:
        cols = self.tables.get(table, {}).get("columns", {})
        return [c for c, hints in cols.items() if hints.get("primary_key")]

    def parent(self, table: str) -> str | None:
        return self.tables.get(table, {}).get("parent")

    def depth(self, table: str) -> int:
        d, p = 0, self.parent(table)
        while p:
            d, p = d + 1, self.parent(p)
        return d


def build_lake_views(
    con: Any,
    bucket_url: str,
    dataset: str,
    schema: Any = None,
    *,
    materialize: bool = False,
    fs: Any = None,
) -> list[str]:
    """Create `<dataset>.<table>` in the DuckDB connection `con` for every lake table.

    `schema` (a dlt Schema) supplies primary keys and parent tables; without it tables are
    read as stored (every appended version). Returns the created names.
    """
    if not _is_local(bucket_url):
        if fs is None:
            import fsspec

            fs = fsspec.filesystem(bucket_url.split("://", 1)[0])
        con.register_filesystem(fs)
    tables = _lake_tables(bucket_url, dataset, fs)
    if not tables:
        raise FileNotFoundError(f"no Parquet tables under {bucket_url.rstrip('/')}/{dataset}")
    loads = _completed_loads_sql(bucket_url, dataset)
    hints = _SchemaHints(schema)
    kind = "table" if materialize else "view"
    con.execute(f"create schema if not exists {_q(dataset)}")
    created: list[str] = []
    # the deletion proofs first: the views of the tables they mark read them
    for table in sorted(tables, key=lambda t: (t != DELETIONS_TABLE, hints.depth(t), t)):
        if table.startswith("_dlt_"):
            continue
        scan = f"read_parquet({_lit(tables[table])}, union_by_name = true)"
        columns = {r[0] for r in con.execute(f"describe select * from {scan}").fetchall()}
        keys = hints.primary_key(table)
        body = _latest_rows_sql(scan, columns, loads, keys)
        parent_table = hints.parent(table)
        if not (keys and "_dlt_load_id" in columns) and parent_table and parent_table in tables:
            body = (
                f"select c.* from ({body}) c where c._dlt_parent_id in "
                f"(select _dlt_id from {_q(dataset)}.{_q(parent_table)})"
            )
        if DELETIONS_TABLE in created and {"deleted_at", "id"} <= columns and table != DELETIONS_TABLE:
            body = _with_proven_deletions(body, table, columns, dataset)
        target = f"{_q(dataset)}.{_q(table)}"
        con.execute(f"drop view if exists {target}")
        con.execute(f"drop table if exists {target}")
        con.execute(f"create {kind} {target} as {body}")
        created.append(table)
    return created


def _latest_rows_sql(scan: str, columns: set[str], loads: str | None, keys: list[str]) -> str:
    """The rows of completed loads only and, per primary key, the one of the newest load."""
    body = f"select * from {scan}"
    if loads and "_dlt_load_id" in columns:
        body += f" where cast(_dlt_load_id as varchar) in ({loads})"
    if keys and "_dlt_load_id" in columns:
        partition = ", ".join(_q(k) for k in keys)
        body += f" qualify row_number() over (partition by {partition} order by _dlt_load_id desc) = 1"
    return body


def _with_proven_deletions(body: str, table: str, columns: set[str], dataset: str) -> str:
    """Parquet files cannot be updated: the proven deletions are applied in the view instead,
    each to rows loaded no later than the proof (a row loaded after it is live)."""
    not_newer = " and b._dlt_load_id <= d._dlt_load_id" if "_dlt_load_id" in columns else ""
    return (
        f"select b.* replace (coalesce(b.deleted_at, d.deleted_at) as deleted_at) from ({body}) b "
        f"left join {_q(dataset)}.{_q(DELETIONS_TABLE)} d on d.table_name = {_lit(table)} "
        f"and d.entity_id = cast(b.id as varchar){not_newer}"
    )


def lake_bucket_url(pipeline: Any = None) -> str:
    """The configured filesystem bucket URL (env DESTINATION__FILESYSTEM__BUCKET_URL)."""
    if pipeline is not None:
        try:
            return str(pipeline.destination_client().config.bucket_url)
        except Exception:  # noqa: BLE001
            pass
    import dlt

    value: Any = dlt.config.get("destination.filesystem.bucket_url")
    if not value:
        raise ValueError("set DESTINATION__FILESYSTEM__BUCKET_URL (a local folder or a bucket URL)")
    return value


def lake_duckdb_path() -> Path:
    """The DuckDB file the lake reports are built in: `chatfunnel.lake_duckdb`
    (`CHATFUNNEL__LAKE_DUCKDB`) or `chatfunnel_lake.duckdb` in the working directory."""
    from pipelines.config.settings import operations

    return Path(operations().lake_duckdb or Path.cwd() / LAKE_DUCKDB_FILE).expanduser()


def build_lake_reports(
    bucket_url: str,
    dataset: str,
    duckdb_path: str | os.PathLike[str],
    *,
    source: str | None = None,
    schema: Any = None,
    materialize: bool | None = None,
    fs: Any = None,
    reports_timezone: str = "UTC",
) -> Any:
    """Views over the lake's Parquet files in `duckdb_path`, then the source's reports.

    `source` defaults to the dataset name (leeloo / salebot). Local lakes get views (always
    current, no copy); remote buckets get tables (materialized: the DuckDB file then works
    without the bucket's credentials). Returns the `BuildResult` of the report build.
    """
    import dlt
    import duckdb

    from transforms.runner import build_reports

    source = source or dataset
    if materialize is None:
        materialize = not _is_local(bucket_url)
    duckdb_path = Path(duckdb_path)
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(duckdb_path))
    try:
        build_lake_views(con, bucket_url, dataset, schema, materialize=materialize, fs=fs)
        con.execute("checkpoint")
    finally:
        con.close()
    pipeline = dlt.pipeline(  # type: ignore[call-overload]
        pipeline_name=f"chatfunnel_{source}_{dataset}_lake_reports",
        destination=dlt.destinations.duckdb(credentials=str(duckdb_path)),
        dataset_name=dataset,
        progress=None,
    )
    return build_reports(pipeline, source, reports_timezone=reports_timezone)


def lake_reports_for_pipeline(pipeline: Any, source: str, duckdb_path: str | os.PathLike[str] | None = None,
                              reports_timezone: str = "UTC") -> Any:
    """`build_lake_reports` for a filesystem-destination pipeline that has just loaded.

    A remote bucket is read with dlt's own fsspec client (the destination's credentials)."""
    bucket_url = lake_bucket_url(pipeline)
    fs = None
    if not _is_local(bucket_url):
        from dlt.common.storages import fsspec_from_config

        fs, _ = fsspec_from_config(pipeline.destination_client().config)
    return build_lake_reports(
        bucket_url,
        pipeline.dataset_name,
        duckdb_path or lake_duckdb_path(),
        source=source,
        schema=pipeline.default_schema if pipeline.default_schema_name else None,
        fs=fs,
        reports_timezone=reports_timezone,
    )

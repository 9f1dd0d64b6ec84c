"""What the dashboard reads: read-only SQL against a DuckDB file or a dlt pipeline's SQL
destination, and which accounts a warehouse holds.

An account's raw dataset is `<source>` (the unnamed account, shown as `default`) or
`<source>_<account>`; its reports are in `<dataset>_reports`, its run history in
`<dataset>._chatfunnel_runs`. A dataset counts as an account's when it holds dlt's or
chatfunnel's bookkeeping tables or has its source's reports beside it (the lake's DuckDB
file has views, not dlt's tables), so `leeloo_reports` and `leeloo_accounts` never do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.config.accounts import is_account_name
from pipelines.config.registry import SOURCES, SourceSpec

DEFAULT_ACCOUNT = "default"
FILE_WAIT_SECONDS = 120.0  # a run's step holds the working file for its load and reports
RAW_MARKERS = ("_chatfunnel_runs", "_dlt_loads")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ReportReader:
    """Read-only SQL against a DuckDB file (a path) or a dlt pipeline's destination."""

    def __init__(self, target: Any, dataset: str | None = None) -> None:
        self._path: Path | None = None
        self._pipeline: Any = None
        if isinstance(target, (str, os.PathLike)):
            self._path = Path(target)
            if not self._path.exists():
                raise FileNotFoundError(f"no DuckDB file at {self._path}")
            self.location = str(self._path)
            self.dataset = dataset
        else:
            self._pipeline = target
            self.dataset = dataset or target.dataset_name
            self.location = str(target.destination.destination_type).rsplit(".", 1)[-1]
        self._catalog: dict[str, set[str]] | None = None

    def rows(self, sql: str) -> list[dict[str, Any]]:
        if self._path is not None:
            return self._file_rows(self._path, sql)
        with self._pipeline.sql_client() as client, client.execute_query(sql) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    @staticmethod
    def _file_rows(path: Path, sql: str) -> list[dict[str, Any]]:
        """One query on a DuckDB file, read-only, under the file's shared reader lock: a run's
        step that holds the working file is waited for, never pushed out (see `locks`)."""
        import duckdb

        from pipelines.warehouse.locks import reader_lock

        with reader_lock(path, FILE_WAIT_SECONDS) as shared:
            if not shared:
                raise TimeoutError(f"a chatfunnel run kept {path} for {FILE_WAIT_SECONDS:g} s; read its BI snapshot "
                                   "or try again when the run is done")
            con = duckdb.connect(str(path), read_only=True)
            try:
                cursor = con.execute(sql)
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            finally:
                con.close()

    @property
    def catalog(self) -> dict[str, set[str]]:
        """{schema: its tables and views}, read once."""
        if self._catalog is None:
            found: dict[str, set[str]] = {}
            for row in self.rows("select table_schema, table_name from information_schema.tables"):
                found.setdefault(str(row["table_schema"]), set()).add(str(row["table_name"]))
            self._catalog = found
        return self._catalog

    def has(self, schema: str, table: str) -> bool:
        return table in self.catalog.get(schema, set())

    def columns(self, schema: str, table: str) -> set[str]:
        rows = self.rows(
            "select column_name from information_schema.columns "
            f"where table_schema = '{_ident(schema)}' and table_name = '{_ident(table)}'"
        )
        return {str(r["column_name"]) for r in rows}

    def table(self, schema: str, table: str, order: str = "") -> list[dict[str, Any]] | None:
        """Every row of a report, or None when it is not there (not built yet)."""
        if not self.has(schema, table):
            return None
        sql = f'select * from "{_ident(schema)}"."{_ident(table)}"'
        return self.rows(sql + (f" order by {order}" if order else ""))


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


@dataclass(frozen=True)
class AccountPage:
    """One account of one source, as the dashboard shows it."""

    spec: SourceSpec
    label: str
    dataset: str

    @property
    def reports(self) -> str:
        return f"{self.dataset}_reports"

    @property
    def anchor(self) -> str:
        """The page's element id (the dataset is a plain identifier, the label may not be)."""
        return f"account-{self.dataset}"

    @property
    def is_default(self) -> bool:
        return self.dataset == self.spec.name


def _source_of(reader: ReportReader, dataset: str) -> SourceSpec:
    for spec in SOURCES.values():
        if spec.report_marker and reader.has(f"{dataset}_reports", spec.report_marker):
            return spec
    for spec in SOURCES.values():
        if dataset == spec.name or dataset.startswith(spec.name + "_"):
            return spec
    return next(iter(SOURCES.values()))


def account_for_dataset(reader: ReportReader, dataset: str) -> AccountPage:
    spec = _source_of(reader, _ident(dataset))
    if dataset == spec.name:
        name = DEFAULT_ACCOUNT
    elif dataset.startswith(spec.name + "_"):
        name = dataset[len(spec.name) + 1:]
    else:
        name = dataset
    return AccountPage(spec, name, dataset)


def discover_accounts(reader: ReportReader) -> list[AccountPage]:
    """Every account the warehouse holds, per source in registry order, `default` first."""
    found: list[AccountPage] = []
    schemas = reader.catalog
    for spec in SOURCES.values():
        names: list[tuple[int, str, str]] = []
        for schema, tables in schemas.items():
            has_reports = bool(spec.report_marker) and spec.report_marker in schemas.get(f"{schema}_reports", set())
            if not has_reports and not any(marker in tables for marker in RAW_MARKERS):
                continue
            if schema == spec.name:
                names.append((0, DEFAULT_ACCOUNT, schema))
            elif schema.startswith(spec.name + "_") and is_account_name(schema[len(spec.name) + 1:]):
                names.append((1, schema[len(spec.name) + 1:], schema))
        found.extend(AccountPage(spec, name, schema) for _, name, schema in sorted(names))
    return found

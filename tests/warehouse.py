"""Read what a test run left in DuckDB or Postgres, the same way for both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Warehouse:
    """A read-only view of one dataset in one destination."""

    destination: str
    dataset: str
    duckdb_path: Path | None = None
    pg_dsn: str | None = None
    _held: Any = field(default=None, repr=False, compare=False)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One connection for every query of the block (a comparison with the truth asks ~25),
        not one each: a DuckDB open reads the file's catalog. Nothing is held after the block,
        so a run in another process can take the file."""
        if self._held is not None:
            yield
            return
        if self.destination == "duckdb":
            import duckdb

            self._held = duckdb.connect(str(self.duckdb_path), read_only=True)
        else:
            import psycopg2

            self._held = psycopg2.connect(self.pg_dsn)
            self._held.autocommit = True
        try:
            yield
        finally:
            held, self._held = self._held, None
            held.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        sql = sql.replace("{ds}", f'"{self.dataset}"')
        if self._held is not None:
            if self.destination == "duckdb":
                return self._held.execute(sql).fetchall()
            with self._held.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        if self.destination == "duckdb":
            import duckdb

            with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
                return con.execute(sql).fetchall()
        import psycopg2

        with psycopg2.connect(self.pg_dsn) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def tables(self) -> set[str]:
        try:
            rows = self.query(
                "select table_name from information_schema.tables "
                f"where table_schema = '{self.dataset}'"
            )
        except Exception:
            return set()
        return {r[0] for r in rows}

    def column_type(self, table: str, column: str) -> str:
        rows = self.query(
            "select data_type from information_schema.columns where "
            f"table_schema = '{self.dataset}' and table_name = '{table}' and column_name = '{column}'"
        )
        return rows[0][0].lower() if rows else ""

    def ids(self, table: str, column: str = "id") -> list[Any]:
        return [r[0] for r in self.query(f"select {column} from {{ds}}.{table}")]

    def pairs(self, sql: str) -> set[tuple[Any, ...]]:
        return {tuple(r) for r in self.query(sql)}

"""Scale of one account: a 50,000-person account loaded in full and then night after night,
on DuckDB and on Postgres, the way a user runs it (`chatfunnel run leeloo`, reports included).

Per run it reports what grows with the account and must not grow with the nights:

- `state_bytes`: what dlt wrote into `_dlt_pipeline_state` during the run (every pipeline
  of the dataset: the account's and the run history's), target <= 1 MB;
- `entities_rows` / `entities_mb`: the per-entity bookkeeping table `_chatfunnel_entities`
  after the run (raw bytes of its values; on Postgres also its size on disk), and how many
  of its rows the run wrote;
- `dlt_dir_mb`: the local dlt folder (DLT_DATA_DIR) after the run, target: bounded;
- `peak_mb`: peak resident memory of the run, target < 1 GB;
- `extract_s`, `normalize_s`, `load_s`: dlt's own step times (its trace), and the Postgres
  load step against DuckDB's, target <= 2x.

Both destinations load the same data: the emulator rebuilds it from the same seed and
anchor before each destination's full load. `formats` compares Postgres load files
(INSERT statements against CSV through COPY) on the same full load.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.harness import (
    PG_DSN,
    CliRun,
    Emulator,
    bench_env,
    folder_bytes,
    remove,
    rows_loaded,
    run_cli,
    start_emulator,
    trace_steps,
)

SCALE = 50_000
ACTIVITY = 0.01
CONCURRENCY = 16
STATE_TARGET_BYTES = 2**20
MEMORY_TARGET_MB = 1024
LOAD_RATIO_TARGET = 2.0


@dataclass
class Warehouse:
    destination: str
    dataset: str
    duckdb_file: Path | None = None

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.destination == "duckdb":
            import duckdb

            assert self.duckdb_file is not None
            with duckdb.connect(str(self.duckdb_file), read_only=True) as con:
                return [tuple(r) for r in con.execute(sql).fetchall()]
        import psycopg2

        with contextlib.closing(psycopg2.connect(PG_DSN)) as con, con.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]

    def state_rows(self) -> dict[str, tuple[int, int]]:
        """Per pipeline: rows of `_dlt_pipeline_state` and the bytes of their `state`."""
        rows = self.query(f"select pipeline_name, count(*), coalesce(sum(length(state)), 0) "
                          f"from {self.dataset}._dlt_pipeline_state group by pipeline_name")
        return {str(name): (int(n), int(size)) for name, n, size in rows}

    def entities(self, load_id: str | None) -> dict[str, Any]:
        table = f"{self.dataset}._chatfunnel_entities"
        columns = ("resource", "entity_id", "epoch", "fingerprint", "mark")
        text = " + ".join(f"coalesce(length({c}), 0)" for c in columns)
        ((rows, raw),) = self.query(f"select count(*), coalesce(sum({text} + 16), 0) from {table}")
        written = self.query(f"select count(*) from {table} where _dlt_load_id = '{load_id}'")[0][0] if load_id else 0
        found: dict[str, Any] = {"entities_rows": int(rows), "entities_mb": round(int(raw) / 2**20, 1),
                                 "entities_written": int(written)}
        if self.destination == "postgres":
            state = f"{self.dataset}._dlt_pipeline_state"
            ((disk, state_disk),) = self.query(
                f"select pg_total_relation_size('{table}'), pg_total_relation_size('{state}')")
            found["entities_disk_mb"] = round(int(disk) / 2**20, 1)
            found["state_table_disk_mb"] = round(int(state_disk) / 2**20, 2)
        return found

    def last_load_id(self) -> str | None:
        rows = self.query(f"select max(load_id) from {self.dataset}._dlt_loads where schema_name = 'leeloo'")
        return str(rows[0][0]) if rows and rows[0][0] else None

    def drop(self) -> None:
        if self.destination != "postgres":
            return
        import psycopg2

        with contextlib.closing(psycopg2.connect(PG_DSN)) as con, con.cursor() as cur:
            for suffix in ("", "_staging", "_reports"):
                cur.execute(f'drop schema if exists "{self.dataset}{suffix}" cascade')
            con.commit()


def without_completed_jobs(dlt_dir: Path) -> int:
    """The dlt folder less the job files of loaded packages: what it would hold with dlt's
    `load.delete_completed_jobs` (which removes exactly those after a successful load)."""
    completed = sum(folder_bytes(jobs) for jobs in dlt_dir.glob("pipelines/*/load/loaded/*/completed_jobs"))
    return folder_bytes(dlt_dir) - completed


def measure_run(label: str, run: CliRun, wh: Warehouse, workdir: Path, *, state_before: dict[str, tuple[int, int]],
                requests_made: int) -> dict[str, Any]:
    state_after = wh.state_rows()
    written = sum(size - state_before.get(name, (0, 0))[1] for name, (_n, size) in state_after.items())
    steps = next((s for name, s in trace_steps(workdir / "dlt").items() if "leeloo" in name), {})
    row: dict[str, Any] = {
        "destination": wh.destination, "load": label, "wall_s": round(run.wall_s, 1), "requests": requests_made,
        "rows": rows_loaded(run.output), "peak_mb": run.peak_mb, "state_bytes": written,
        "dlt_dir_mb": round(folder_bytes(workdir / "dlt") / 2**20, 1),
        "dlt_dir_without_completed_jobs_mb": round(without_completed_jobs(workdir / "dlt") / 2**20, 1),
        "others_cores": run.others_cores,
    }
    for name in ("extract", "normalize", "load"):
        if name in steps:
            row[f"{name}_s"] = round(steps[name].seconds, 1)
            step = steps[name]
            row[f"{name}_peak_mb"] = run.peak_mb_between(step.started, step.started + step.seconds)
    if "load" in steps:
        end = steps["load"].started + steps["load"].seconds
        row["after_load_peak_mb"] = run.peak_mb_between(end, run.started_at + run.wall_s + 1)
    row.update(wh.entities(wh.last_load_id()))
    return row


def destination_runs(emu: Emulator, destination: str, workdir: Path, nights: int, *, scale: int,
                     file_format: str | None = None) -> list[dict[str, Any]]:
    """A full load, then `nights` incremental runs after a night's activity each."""
    remove(workdir / "dlt")
    (workdir / "bench.duckdb").unlink(missing_ok=True)
    emu.admin("reset", {"data": True})
    dataset = f"bench_scale_{uuid.uuid4().hex[:8]}"
    wh = Warehouse(destination, dataset, workdir / "bench.duckdb")
    env = bench_env(workdir, SOURCES__LEELOO__BASE_URL=emu.url, SOURCES__LEELOO__API_TOKEN=emu.token,
                    SOURCES__LEELOO__REQUESTS_PER_MINUTE="0")
    args = ["run", "leeloo", "--destination", destination, "--dataset", dataset, "--progress", "none",
            "--concurrency", str(CONCURRENCY)]
    module = "pipelines" if file_format is None else "bench.with_format"
    prefix = [] if file_format is None else [file_format]
    results = []
    try:
        for night in range(nights + 1):
            if night:
                emu.admin("simulate", {"active_people": ACTIVITY, "new_people": int(scale * ACTIVITY / 4),
                                       "new_orders": int(scale * ACTIVITY / 4),
                                       "status_changes": int(scale * ACTIVITY / 4)})
            before = wh.state_rows() if night else {}
            emu.admin("reset", {})
            run = run_cli([*prefix, *args], workdir, env, emulators=[emu], module=module)
            label = "full" if night == 0 else f"night {night}"
            if file_format:
                label += f" ({file_format})"
            results.append(measure_run(label, run, wh, workdir, state_before=before,
                                       requests_made=emu.admin("requests")["total"]))
            print("  " + ", ".join(f"{k}={v}" for k, v in results[-1].items()), flush=True)
    finally:
        wh.drop()
    return results


def run(nights: int = 3, destinations: tuple[str, ...] = ("duckdb", "postgres"), formats: bool = False,
        scale: int = SCALE) -> dict[str, Any]:
    anchor = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0).isoformat()
    emu = start_emulator(scale, extra=("--anchor", anchor))
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="chatfunnel-bench-scale-") as tmp:
            for destination in destinations:
                print(f"== scale: {destination}, {scale} people, full load then {nights} nights", flush=True)
                results += destination_runs(emu, destination, Path(tmp), nights, scale=scale)
            if formats:
                for file_format in ("csv", "insert_values"):
                    print(f"== scale: postgres with {file_format} load files, full load", flush=True)
                    results += destination_runs(emu, "postgres", Path(tmp), 0, scale=scale, file_format=file_format)
    finally:
        emu.stop()
    return {"scenario": "scale", "scale": scale, "results": results, **verdicts(results)}


def verdicts(results: list[dict[str, Any]]) -> dict[str, Any]:
    full = {r["destination"]: r for r in results if r["load"] == "full"}
    nights = [r for r in results if r["load"].startswith("night")]
    out: dict[str, Any] = {
        "max_state_bytes_per_run": max((r["state_bytes"] for r in results if r["load"] != "full"), default=None),
        "max_peak_mb": max((r["peak_mb"] for r in results), default=None),
    }
    if "duckdb" in full and "postgres" in full and full["duckdb"].get("load_s"):
        out["postgres_load_vs_duckdb"] = round(full["postgres"]["load_s"] / full["duckdb"]["load_s"], 2)
    for key in ("dlt_dir_mb", "dlt_dir_without_completed_jobs_mb"):
        by_destination: dict[str, list[float]] = {}
        for r in nights:
            by_destination.setdefault(r["destination"], []).append(r[key])
        out[key.replace("_mb", "_growth_mb_per_night")] = {
            d: round((sizes[-1] - sizes[0]) / (len(sizes) - 1), 2) if len(sizes) > 1 else None
            for d, sizes in by_destination.items()}
    return out


COLUMNS = ["destination", "load", "wall_s", "requests", "rows", "extract_s", "normalize_s", "load_s", "peak_mb",
           "extract_peak_mb", "normalize_peak_mb", "load_peak_mb", "after_load_peak_mb",
           "state_bytes", "entities_rows", "entities_written", "entities_mb", "dlt_dir_mb",
           "dlt_dir_without_completed_jobs_mb", "others_cores"]


def print_summary(result: dict[str, Any]) -> None:
    rows = result["results"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in COLUMNS}
    print(f"scale: one account of {result['scale']} people")
    print("  " + "  ".join(c.ljust(widths[c]) for c in COLUMNS))
    for r in rows:
        print("  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in COLUMNS))
    print(f"  state written per incremental run: at most {result['max_state_bytes_per_run']} bytes "
          f"(target <= {STATE_TARGET_BYTES})")
    print(f"  peak memory: at most {result['max_peak_mb']} MB (target < {MEMORY_TARGET_MB})")
    if "postgres_load_vs_duckdb" in result:
        print(f"  Postgres load step / DuckDB's: {result['postgres_load_vs_duckdb']}x (target <= {LOAD_RATIO_TARGET}x)")
    print(f"  local dlt folder growth per night, MB: {result['dlt_dir_growth_mb_per_night']} (target: bounded); "
          f"without the loaded packages' job files (dlt's load.delete_completed_jobs): "
          f"{result['dlt_dir_without_completed_jobs_growth_mb_per_night']}")

"""Failures a nightly run meets: a wrong token, a dead API, a dead destination, a killed process."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.leeloo.conftest import TOKEN, Target, run_leeloo
from tests.leeloo.truth import assert_matches_truth

REPO = Path(__file__).resolve().parents[2]


def files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                if needle in path.read_bytes():
                    hits.append(path)
            except OSError:
                pass
    return hits


def test_wrong_token_fails_clearly_and_leaks_nothing(emulator, target: Target, dlt_env: Path,
                                                     capsys, caplog, monkeypatch) -> None:
    emulator(scale=20)
    wrong = "wrong-token-7d1e0c44b9a2"
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", wrong)
    code = run_leeloo(target)
    out, err = capsys.readouterr()
    assert code != 0
    assert "refused the credentials" in err and "SOURCES__LEELOO__API_TOKEN" in err
    assert "Traceback" not in err
    assert not target.warehouse.tables() & {"people", "orders", "chat_messages"}
    assert wrong not in out + err + caplog.text
    assert files_containing(dlt_env, wrong.encode()) == []


def test_token_never_stored_by_a_successful_run(emulator, target: Target, dlt_env: Path,
                                                capsys, caplog) -> None:
    import json

    from dlt.common.versioned_state import decompress_state

    emulator(scale=20)
    assert run_leeloo(target, "--progress", "log") == 0
    pipeline = target.pipeline()
    assert pipeline.last_trace is not None and TOKEN not in str(pipeline.last_trace.asdict())
    out, err = capsys.readouterr()
    assert TOKEN not in out + err + caplog.text
    leaked = files_containing(dlt_env, TOKEN.encode())  # pipeline state, trace, load packages, DuckDB
    assert leaked == [], f"token found in {leaked}"
    # every row the run wrote into the warehouse, dlt's stored state decompressed
    dumped = []
    tables = target.warehouse.tables()
    for table in tables:
        rows = target.warehouse.query(f'select * from {{ds}}."{table}"')
        dumped.append(repr(rows))
        if table == "_dlt_pipeline_state":
            states = [decompress_state(r[3]) for r in rows]
            assert any("cursor" in json.dumps(st) for st in states)  # the dump really holds our state
            dumped.append(json.dumps(states, default=str))
    assert {"people", "_chatfunnel_entities"} <= tables and TOKEN not in "\n".join(dumped)


def test_unreachable_api_is_one_clear_message(duck_target: Target, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__BASE_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", TOKEN)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    code = run_leeloo(duck_target)
    err = capsys.readouterr().err
    assert code != 0 and "could not be reached" in err and "Traceback" not in err
    assert not duck_target.warehouse.tables() & {"people", "orders"}


@pytest.mark.parametrize("attempts", [2, 3])
def test_dlt_s_request_max_attempts_sets_the_attempts_per_request(emulator, duck_target: Target, capsys,
                                                                   monkeypatch, attempts: int) -> None:
    """`[runtime] request_max_attempts`, dlt's own setting, is how often the run asks the API
    before it gives up: counted at the API, which answers every request with a 5xx."""
    emu = emulator(scale=5, error_rate=1.0)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", str(attempts))
    assert run_leeloo(duck_target) != 0
    assert "Traceback" not in capsys.readouterr().err
    asked = emu.request_counts()["by_endpoint"]
    assert asked and set(asked.values()) == {attempts}, asked  # each request the run made, tried that often


def test_missing_token_names_the_setting(duck_target: Target, capsys, monkeypatch) -> None:
    monkeypatch.delenv("SOURCES__LEELOO__API_TOKEN", raising=False)
    code = run_leeloo(duck_target)
    err = capsys.readouterr().err
    assert code != 0 and "api_token" in err and "SOURCES__LEELOO__API_TOKEN" in err


@pytest.mark.postgres
def test_destination_down_keeps_the_cursor(emulator, dlt_env: Path, capsys, monkeypatch) -> None:
    import dlt

    emulator(scale=20)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS",
                       "postgresql://postgres:postgres@127.0.0.1:9/test")  # nothing listens there
    code = main_run_postgres()
    err = capsys.readouterr().err
    assert code != 0 and "DESTINATION__POSTGRES__CREDENTIALS" in err and "Traceback" not in err
    try:
        state = dlt.attach("chatfunnel_leeloo_postgres_down").state
        cursor = state.get("sources", {}).get("leeloo", {}).get("resources", {}).get("people", {}).get("cursor")
    except Exception:
        cursor = None
    assert cursor is None


def main_run_postgres() -> int:
    from pipelines.cli import main

    return main(["run", "leeloo", "--destination", "postgres", "--dataset", "down",
                 "--no-transform", "--progress", "none"])


def test_killed_run_then_rerun_equals_truth(emulator, target: Target, dlt_env: Path) -> None:
    emu = emulator(scale=150, latency_ms=15)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "run", "leeloo", *target.cli_args(),
         "--no-transform", "--progress", "none"],
        env=env, cwd=dlt_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while emu.request_counts()["total"] < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    emu.knobs.latency_ms = 0
    assert run_leeloo(target) == 0
    assert_matches_truth(target.warehouse, emu.truth())


def test_run_all_loads_one_source_when_the_other_fails(emulator, duck_target: Target, capsys,
                                                      monkeypatch) -> None:
    """A nightly `run all` whose Salebot API cannot be reached still loads Leeloo, and exits non-zero."""
    from pipelines.cli import main

    emulator(scale=20)
    monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", "sbk-unreachable-0123456789")
    monkeypatch.setenv("SOURCES__SALEBOT__BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    code = main(["run", "all", "--no-transform", "--progress", "none"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "The salebot API could not be reached" in err and "SOURCES__SALEBOT__BASE_URL" in err
    assert "Traceback" not in err
    assert "leeloo: loaded into duckdb" in out
    assert "people" in duck_target.warehouse.tables()


@contextlib.contextmanager
def hanging_up_api() -> Iterator[tuple[str, list[str]]]:
    """An API host that takes each request and closes the connection without an answer (what a
    dead upstream behind a load balancer looks like): its address, and the request lines it took."""
    taken: list[str] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    taken.append(conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", taken
    finally:
        done.set()
        thread.join(5)
        server.close()


def test_a_first_load_against_a_dead_api_pays_one_round_of_retries(duck_target: Target, capsys,
                                                                   monkeypatch, quick_retries) -> None:
    """The count of the history a first load asks for first is no exception: an API that does
    not answer fails the run after the probe's retries, not after the listing's as well."""
    from sources.http.client import MAX_ATTEMPTS

    one_round = MAX_ATTEMPTS
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", TOKEN)
    with hanging_up_api() as (url, taken):
        monkeypatch.setenv("SOURCES__LEELOO__BASE_URL", url)
        code = run_leeloo(duck_target, "--resources", "people")
    err = capsys.readouterr().err
    assert code != 0 and "could not be reached" in err and "Traceback" not in err
    assert len(taken) == one_round and all("limit=1&" in line for line in taken), taken


def test_a_copy_short_of_its_file_fails_the_run_and_the_next_run_loads_all(emulator, pg_target: Target, capsys,
                                                                            monkeypatch) -> None:
    """Binary COPY accepts a stream that ends at a row boundary without an error: each COPY's
    row count is checked against its file. A short one fails the run with that said, keeps none
    of the package's rows, and the next run reads that data again and equals the API."""
    from pipelines.warehouse import pgcopy_binary

    emu = emulator(scale=30)
    whole = pgcopy_binary.binary_chunks

    def cut_after_the_header(batches, encoder):  # type: ignore[no-untyped-def]
        chunks = whole(batches, encoder)
        yield next(chunks)
        yield from (c[:0] for c in chunks)  # the stream ends at a row boundary, every row cut away

    monkeypatch.setattr(pgcopy_binary, "binary_chunks", cut_after_the_header)
    assert run_leeloo(pg_target) == 1
    err = capsys.readouterr().err
    assert "The postgres destination refused the data: COPY into " in err, err
    assert re.search(r" took 0 rows of the [1-9]\d* in its load file; none were kept\.", err), err
    assert "Traceback" not in err, err
    assert "restored the state it started from, so the next run reads that data again" in err, err
    assert pg_target.warehouse.query("select count(*) from {ds}.people")[0][0] == 0
    monkeypatch.setattr(pgcopy_binary, "binary_chunks", whole)
    assert run_leeloo(pg_target) == 0, capsys.readouterr().err
    assert_matches_truth(pg_target.warehouse, emu.truth())


def test_a_copy_run_again_after_its_commit_leaves_no_row_twice(emulator, pg_target: Target, capsys,
                                                               monkeypatch) -> None:
    """A COPY whose commit reached the server while its answer did not (the connection lost)
    fails as a transient error, and dlt runs the job again in the same load: its rows are
    staged twice. The merge then deduplicates (the staged count exceeds the file's), but dlt's
    merge of a table with nested tables keeps both copies of a root row (they share their
    `_dlt_id`): the run removes them and says so."""
    from dlt.destinations.exceptions import DatabaseTransientException

    from pipelines.warehouse import pgcopy

    emu = emulator(scale=30)
    copy = pgcopy.ParquetCopyJob.run
    lost: list[str] = []

    def commit_then_lose_the_answer(self):  # type: ignore[no-untyped-def]
        copy(self)
        if self.load_table_name == "people" and not lost:
            lost.append(self.file_name())
            raise DatabaseTransientException(OSError("server closed the connection unexpectedly"))

    monkeypatch.setattr(pgcopy.ParquetCopyJob, "run", commit_then_lose_the_answer)
    assert run_leeloo(pg_target) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert lost, "the fault was injected"
    assert "a load job ran again after a transient error; removed 30 rows it had written twice (people=30)" in out, out
    assert_matches_truth(pg_target.warehouse, emu.truth())

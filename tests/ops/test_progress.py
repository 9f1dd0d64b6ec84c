"""Progress: a collector on a terminal, silence (auto) or one line a minute (log) under cron."""

from __future__ import annotations

import io

from dlt.common.runtime.collector import LogCollector

from pipelines.config.progress import progress_collector


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_progress_cron_stays_quiet() -> None:
    assert progress_collector("none", _Tty()) is None
    assert progress_collector("auto", io.StringIO()) is None  # cron: not a terminal
    on_tty = progress_collector("auto", _Tty())
    assert on_tty is not None
    if isinstance(on_tty, LogCollector):
        assert on_tty.log_period <= 5
    logged = progress_collector("log", io.StringIO())
    assert isinstance(logged, LogCollector) and logged.log_period >= 60


def test_log_collector_writes_to_the_given_stream(emulator, duck_target) -> None:
    """A real pipeline with the terminal collector writes progress lines to that stream."""
    import dlt

    stream = _Tty()
    collector = progress_collector("log", stream)
    if not isinstance(collector, LogCollector):  # tqdm/enlighten installed: bars, not lines
        return
    collector.log_period = 0.0
    pipeline = dlt.pipeline("progress_probe",
                            destination=dlt.destinations.duckdb(str(duck_target.warehouse.duckdb_path)),
                            dataset_name="probe", progress=collector)
    pipeline.run([{"id": i} for i in range(100)], table_name="t")
    text = stream.getvalue()
    assert "Extract" in text or "Normalize" in text or "Load" in text, text[:500]

"""`chatfunnel status` tells people times in the account's `reports_timezone`, with its offset
(a business in Vladivostok reads its 23:30 run on its own date); `status --json` keeps UTC and
adds the local rendering."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pipelines.operations.runs import RunRecord, record
from pipelines.operations.status import print_status
from pipelines.operations.status.times import local_time
from tests.ops.conftest import PYTHON, leeloo_pipeline, subprocess_env


def _record(started: datetime, outcome: str = "success") -> None:
    pipeline = leeloo_pipeline()
    record(pipeline, RunRecord(source="leeloo", account=None, pipeline_name=pipeline.pipeline_name,
                               dataset="leeloo", destination="duckdb", started_at=started - timedelta(seconds=30),
                               finished_at=started, outcome=outcome, requests=7, rows_per_table={"people": 3}))


def _text() -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        print_status("duckdb", ["leeloo"])
    return out.getvalue()


def _evening(zone: str, days_ago: int = 2) -> datetime:
    """23:30 local, some days before now, as UTC."""
    local = datetime.now(ZoneInfo(zone)) - timedelta(days=days_ago)
    return local.replace(hour=23, minute=30, second=0, microsecond=0).astimezone(UTC)


def test_a_run_at_2330_in_vladivostok_shows_its_local_date_and_offset(emulator, duck_target, monkeypatch) -> None:
    emulator(scale=5)
    evening = _evening("Asia/Vladivostok")
    after_midnight = evening + timedelta(hours=1)  # 00:30 local: the next local day, the same UTC day
    _record(evening)
    _record(after_midnight, "failed")
    local_day = evening.astimezone(ZoneInfo("Asia/Vladivostok")).date()

    monkeypatch.setenv("SOURCES__LEELOO__REPORTS_TIMEZONE", "Asia/Vladivostok")
    text = _text()
    assert "leeloo (duckdb, dataset 'leeloo'; times in Asia/Vladivostok)" in text
    assert f"last successful run: {local_day:%Y-%m-%d} 23:30:00 +10:00 (" in text
    next_day = local_day + timedelta(days=1)
    assert f"last run: {next_day:%Y-%m-%d} 00:30:00 +10:00 (" in text
    assert after_midnight.date() == evening.date() != next_day, "UTC would put both runs on one day"
    assert f"recent runs: failed {next_day:%m-%d} 00:30, success {local_day:%m-%d} 23:30" in text
    assert " UTC" not in text.split("warehouse:")[0]

    done = subprocess.run([PYTHON, "-m", "pipelines", "status", "leeloo", "--json"], capture_output=True, text=True,
                          env=subprocess_env(SOURCES__LEELOO__REPORTS_TIMEZONE="Asia/Vladivostok"), timeout=120)
    [account] = json.loads(done.stdout)["accounts"]
    assert account["reports_timezone"] == "Asia/Vladivostok"
    assert account["last_run"]["finished_at"] == after_midnight.isoformat()  # the contract stays UTC
    assert account["last_success_at"] == evening.isoformat()
    assert account["last_success_at_local"] == f"{local_day:%Y-%m-%d}T23:30:00+10:00"
    assert account["problems"] == ["last run failed"] and account["healthy"] is False


def test_west_of_utc_and_the_default(emulator, duck_target, monkeypatch) -> None:
    emulator(scale=5)
    evening = _evening("America/Sao_Paulo")
    _record(evening)
    local_day = evening.astimezone(ZoneInfo("America/Sao_Paulo")).date()
    assert evening.date() == local_day + timedelta(days=1), "in UTC the run is on the next day"

    assert f"last run: {evening:%Y-%m-%d} 02:30:00 UTC (" in _text(), "no setting: UTC, as before"
    monkeypatch.setenv("SOURCES__LEELOO__REPORTS_TIMEZONE", "America/Sao_Paulo")
    assert f"last run: {local_day:%Y-%m-%d} 23:30:00 -03:00 (" in _text()


def test_a_setting_that_is_no_zone_is_said_and_times_stay_utc(emulator, duck_target, monkeypatch) -> None:
    emulator(scale=5)
    evening = _evening("UTC")
    _record(evening)
    monkeypatch.setenv("SOURCES__LEELOO__REPORTS_TIMEZONE", "Mars/Olympus")
    text = _text()
    assert "times below in UTC:" in text and "'Mars/Olympus' is not a time zone name" in text
    assert f"last run: {evening:%Y-%m-%d} 23:30:00 UTC (" in text


def test_local_time_names_the_offset_of_that_moment() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    assert local_time(datetime(2026, 12, 5, 20, 30, tzinfo=UTC), moscow) == "2026-12-05 23:30:00 +03:00"
    assert local_time(datetime(2026, 12, 5, 20, 30, tzinfo=UTC)) == "2026-12-05 20:30:00 UTC"
    assert local_time(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), ZoneInfo("America/New_York")) == \
        "2026-07-01 08:00:00 -04:00"

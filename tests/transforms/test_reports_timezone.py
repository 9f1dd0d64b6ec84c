"""The business's own days: with `reports_timezone` set, daily and weekly reports bucket by
the local calendar day and ISO week, on DuckDB and Postgres, equal to values computed in
Python from the emulator's truth in that zone; raw tables stay UTC; a name that is not a
time zone is a usage error naming the setting."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pipelines.cli import main
from pipelines.config.accounts import Account
from pipelines.config.report_settings import reports_timezone
from pipelines.errors import UsageError
from tests.leeloo.conftest import Target, emulator, target  # noqa: F401
from tests.transforms import truth as reference
from tests.transforms.test_emulator import assert_report, keyed
from transforms.runner import future_tolerance

ZONES = ["Asia/Vladivostok", "America/Sao_Paulo"]


def report(at: Target, name: str) -> list[dict]:
    reports = f'"{at.dataset}_reports"'
    names = [r[0] for r in at.warehouse.query(
        "select column_name from information_schema.columns where "
        f"table_schema = '{at.dataset}_reports' and table_name = '{name}' order by ordinal_position")]
    return [
        {k: float(v) if type(v).__name__ == "Decimal" else v for k, v in zip(names, row, strict=True)}
        for row in at.warehouse.query(f"select * from {reports}.{name}")
    ]


def late_evening(truth: dict, zone: ZoneInfo) -> list[datetime]:
    """Messages written between 23:00 and midnight local time whose UTC day differs."""
    out = []
    for m in truth["chat_messages"]:
        at = reference.parse_known(m["createdAt"])
        local = at.astimezone(zone)
        if local.hour == 23 or local.date() != at.date():
            out.append(local)
    return out


@pytest.mark.parametrize("zone_name", ZONES)
def test_days_and_weeks_are_the_accounts(emulator, target: Target, monkeypatch, zone_name: str,  # noqa: F811
                                         capsys) -> None:
    zone = ZoneInfo(zone_name)
    monkeypatch.setenv("SOURCES__LEELOO__REPORTS_TIMEZONE", zone_name)
    emu = emulator(scale=60, seed=5)
    truth = emu.truth()
    evening = late_evening(truth, zone)
    assert any(t.hour == 23 for t in evening), "a message at 23:xx local time exercises the boundary"
    assert any(t.date() != t.astimezone(ZoneInfo("UTC")).date() for t in evening)
    assert main(["run", "leeloo", *target.cli_args(), "--progress", "none"]) == 0, capsys.readouterr()

    daily = {(d,): v for d, v in reference.daily_activity(truth, zone).items()}
    assert daily != {(d,): v for d, v in reference.daily_activity(truth).items()}, "the zone changes the days"
    assert_report("daily_activity", keyed(report(target, "daily_activity"), "date"), daily)
    assert_report("manager_response_times", keyed(report(target, "manager_response_times"), "manager_id",
                                                  "week_start"), reference.manager_response_times(truth, zone))
    # the raw table keeps UTC instants: the same count of messages, the same first instant
    ((first,),) = target.warehouse.query("select min(created_at) from {ds}.chat_messages")
    assert first == min(reference.parse_known(m["createdAt"]) for m in truth["chat_messages"])


def test_the_setting_is_per_account_and_checked(monkeypatch) -> None:
    monkeypatch.delenv("SOURCES__LEELOO__REPORTS_TIMEZONE", raising=False)
    assert reports_timezone(Account("leeloo")) == "UTC"
    monkeypatch.setenv("SOURCES__LEELOO__REPORTS_TIMEZONE", "Europe/Moscow")
    monkeypatch.setenv("SOURCES__LEELOO__ACCOUNTS__ACME__REPORTS_TIMEZONE", "Asia/Kamchatka")
    assert reports_timezone(Account("leeloo")) == "Europe/Moscow"
    assert reports_timezone(Account("leeloo", "acme")) == "Asia/Kamchatka"
    assert reports_timezone(Account("leeloo", "other")) == "Europe/Moscow", "inherited from the source"
    monkeypatch.setenv("SOURCES__LEELOO__ACCOUNTS__ACME__REPORTS_TIMEZONE", "Moscow")
    with pytest.raises(UsageError, match="reports_timezone = 'Moscow' is not a time zone"):
        reports_timezone(Account("leeloo", "acme"))
    assert future_tolerance("UTC") == "1 hour"
    assert future_tolerance("Asia/Kamchatka") == "13 hours" and future_tolerance("America/Sao_Paulo") == "1 hour"

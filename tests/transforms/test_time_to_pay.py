"""Time to pay: from a person's first contact (their first channel's creation or first
message) to their first paid status, per first touch and week of first contact, equal to
values computed in Python from the emulator's truth on DuckDB and Postgres, in the
account's reports_timezone."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.cli import main
from tests.leeloo.conftest import Target, emulator, target  # noqa: F401
from tests.transforms import truth as reference
from tests.transforms.test_emulator import assert_report, keyed
from tests.transforms.test_reports_timezone import report


def first_contacts(truth: dict[str, Any]) -> dict[str, datetime]:
    owner = {c["id"]: c["person_id"] for c in truth["communication_channels"]}
    people = {p["id"] for p in truth["people"]}
    first: dict[str, datetime] = {}
    moments = [(c["person_id"], c["createdAt"]) for c in truth["communication_channels"]]
    moments += [(owner.get(m["account_id"]), m["createdAt"]) for m in truth["chat_messages"]]
    for person, stamp in moments:
        if person in people and stamp:
            at = reference.parse_known(stamp)
            first[person] = min(first.get(person, at), at)
    return first


def time_to_pay(truth: dict[str, Any], zone: ZoneInfo) -> dict[tuple, dict[str, Any]]:
    """One load observes each order once: a paid order's paid moment is its updatedAt."""
    paid: dict[str, datetime] = {}
    for o in truth["orders"]:
        if o["status"] in reference.PAID:
            at = reference.parse_known(o["updatedAt"])
            paid[o["person_id"]] = min(paid.get(o["person_id"], at), at)
    touch = {}
    for p in truth["people"]:
        history = reference._history(truth, p)
        touch[p["id"]] = (history[0].get("tunnelId"), history[0].get("trafficSourceId")) if history else (None, None)
    groups: dict[tuple, list] = defaultdict(list)
    for person, contact in first_contacts(truth).items():
        hours = (paid[person] - contact).total_seconds() / 3600 if person in paid else None
        groups[(*touch[person], reference.week_start(contact, zone))].append(hours)
    out = {}
    for key, values in groups.items():
        timed = [h for h in values if h is not None]
        out[key] = {
            "people": len(values), "paid_people": len(timed), "unpaid_share": 1 - len(timed) / len(values),
            **{f"{name}_hours_to_pay": reference.percentile_cont(timed, q) if timed else None
               for name, q in (("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("p90", 0.9))},
        }
    return out


def test_time_to_pay_equals_the_truth(emulator, target: Target, monkeypatch, capsys) -> None:  # noqa: F811
    monkeypatch.setenv("SOURCES__LEELOO__REPORTS_TIMEZONE", "Europe/Moscow")
    emu = emulator(scale=80, seed=9)
    assert main(["run", "leeloo", *target.cli_args(), "--progress", "none"]) == 0, capsys.readouterr()
    want = time_to_pay(emu.truth(), ZoneInfo("Europe/Moscow"))
    assert sum(v["paid_people"] for v in want.values()) > 3 and any(v["unpaid_share"] > 0 for v in want.values())
    got = keyed(report(target, "time_to_pay"), "tunnel_id", "traffic_source_id", "week_start")
    assert_report("time_to_pay", got, want)

"""The clock knobs of both emulators: an API whose clock is ahead or behind ours (its Date
header too), and one that writes the local time of UTC+N with a ``Z``."""
from __future__ import annotations

import argparse
import datetime as dt
import time
from email.utils import parsedate_to_datetime

import pytest
import requests

from emulators.base import Knobs, parse_iso
from emulators.cli import add_leeloo_arguments, knobs_from_args
from emulators.leeloo import LeelooEmulator, LeelooKnobs
from emulators.salebot import SalebotEmulator
from emulators.salebot.cli import add_salebot_arguments
from emulators.salebot.emulator import SalebotKnobs
from tests.emulators.conftest import TOKEN, Client

HOUR_MS = 3_600_000
SLACK_MS = 120_000  # the test's own time between reading the clock and the emulator stamping


def date_header_offset_ms(response: requests.Response) -> int:
    return int(parsedate_to_datetime(response.headers["Date"]).timestamp() * 1000) - int(time.time() * 1000)


@pytest.mark.parametrize(("offset", "zone", "stamps_hours", "date_hours"),
                         [(3, 0, 3, 3), (-3, 0, -3, -3), (0, 3, 3, 0)])
def test_leeloo_new_activity_is_stamped_by_the_apis_clock(offset: float, zone: float, stamps_hours: int,
                                                          date_hours: int) -> None:
    emu = LeelooEmulator(seed=3, scale=20, token=TOKEN)
    with emu.serve() as url:
        c = Client(url, emu)
        knobs = c.admin("knobs", {"clock_offset_hours": offset, "clock_zone_label_hours": zone})
        assert (knobs["clock_offset_hours"], knobs["clock_zone_label_hours"]) == (offset, zone)
        before = int(time.time() * 1000)
        out = c.admin("simulate", {"new_people": 1, "active_people": 2})
        expected = before + stamps_hours * HOUR_MS
        assert abs(parse_iso(out["at"]) - expected) < SLACK_MS
        truth = c.truth()
        newest = max(parse_iso(m["createdAt"]) for m in truth["chat_messages"])
        assert abs(newest - expected) < SLACK_MS
        # the window filter compares with the API's own stamps: a window around its "now" holds them
        at = dt.datetime.fromtimestamp(newest / 1000, dt.UTC)
        window = {"filter[last_message][from]": (at - dt.timedelta(minutes=5)).isoformat(),
                  "filter[last_message][to]": (at + dt.timedelta(minutes=5)).isoformat()}
        listed = c.page_all("/api/v2/communication-channels", window)
        assert {ch["id"] for ch in listed} >= {m["account_id"] for m in truth["chat_messages"]
                                               if parse_iso(m["createdAt"]) == newest}
        # the HTTP Date header: a wrong clock moves it, a zone label does not
        assert abs(date_header_offset_ms(c.get("/api/v2/tags")) - date_hours * HOUR_MS) < SLACK_MS


def test_leeloo_history_ends_at_the_apis_now() -> None:
    emu = LeelooEmulator(seed=3, scale=20, token=TOKEN, knobs=LeelooKnobs(clock_offset_hours=5))
    hour_floor = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    assert emu.data.anchor - hour_floor in (dt.timedelta(hours=5), dt.timedelta(hours=6))


def test_salebot_stamps_and_history_follow_the_apis_clock() -> None:
    before = time.time()
    emu = SalebotEmulator(seed=3, scale=10, knobs=Knobs(clock_zone_label_hours=3))
    assert abs(emu.anchor - (before + 3 * 3600)) < 120
    behind = SalebotEmulator(seed=3, scale=10, knobs=Knobs(clock_offset_hours=-3))
    with behind.serve() as url:
        out = requests.post(f"{url}/__admin/simulate", json={"new_clients": 1}, timeout=10).json()
        cid = out["new_clients"][0]
        assert abs(behind.clients[cid]["created_at"] - (time.time() - 3 * 3600)) < 120
        response = requests.get(f"{url}/__admin/requests", timeout=10)
        assert abs(date_header_offset_ms(response) + 3 * HOUR_MS) < SLACK_MS


def test_bad_clock_knobs_are_refused() -> None:
    with pytest.raises(ValueError, match="clock_zone_label_hours"):
        LeelooKnobs(clock_zone_label_hours=15).validate()
    with pytest.raises(ValueError, match="clock_offset_hours"):
        Knobs(clock_offset_hours=100).validate()


def test_both_clis_take_the_clock_flags() -> None:
    flags = ["--clock-offset-hours", "3", "--clock-zone-label-hours", "-2"]
    leeloo, salebot = argparse.ArgumentParser(), argparse.ArgumentParser()
    add_leeloo_arguments(leeloo)
    add_salebot_arguments(salebot)
    for parser, cls in ((leeloo, LeelooKnobs), (salebot, SalebotKnobs)):
        knobs = knobs_from_args(parser.parse_args(flags), cls)
        assert (knobs.clock_offset_hours, knobs.clock_zone_label_hours) == (3.0, -2.0)

"""The sweep: every channel and person re-verified within `sweep_runs` runs, spread evenly,
activity followed up at the next run, new activity first when the budget is short."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from sources.bookkeeping import Entry
from sources.kit.sweep import plan_sweep, stalest
from tests.leeloo.conftest import Target, run_leeloo
from tests.leeloo.truth import assert_matches_truth, mismatches


def simulate_runs(n: int, sweep_runs: int, runs: int, *, active: float = 0.0, budget: dict[int, int] | None = None,
                  seed: int = 1) -> tuple[dict[str, Entry], list[int], dict[str, list[int]]]:
    """Apply plan_sweep run after run (entities verified in run 1); returns the entries, the
    number swept per run, and the runs that verified each entity."""
    rng = random.Random(seed)
    entries = {f"e{i:04d}": Entry(verified_run=1) for i in range(n)}
    verified: dict[str, list[int]] = {e: [1] for e in entries}
    swept = []
    for run in range(2, runs + 2):
        done = {e for e in entries if rng.random() < active}
        plan = plan_sweep(entries, run, sweep_runs, done=done)
        work = [*done, *list(plan)[: (budget or {}).get(run, len(plan))]]
        for entity in work:
            entries[entity] = Entry(verified_run=run)
            verified[entity].append(run)
        swept.append(min(len(plan), (budget or {}).get(run, len(plan))))
    return entries, swept, verified


@pytest.mark.parametrize(("n", "sweep_runs", "active"), [(100, 7, 0.0), (1000, 7, 0.02), (57, 2, 0.1), (5, 7, 0.0)])
def test_every_entity_is_verified_within_sweep_runs_spread_evenly(n: int, sweep_runs: int, active: float) -> None:
    entries, swept, verified = simulate_runs(n, sweep_runs, runs=4 * sweep_runs, active=active)
    for entity, runs in verified.items():
        gaps = [b - a for a, b in pairwise(runs)]
        assert max(gaps, default=0) <= sweep_runs, f"{entity} waited {max(gaps)} runs"
    assert max(swept) <= math.ceil(n / sweep_runs), "a run sweeps its even share, no more"
    assert stalest(entries, 4 * sweep_runs + 1) < sweep_runs


def test_a_budget_cut_resumes_where_it_stopped_and_catches_up() -> None:
    n, sweep_runs = 70, 7
    entries, swept, verified = simulate_runs(n, sweep_runs, runs=3 * sweep_runs, budget={3: 2, 4: 0, 5: 3})
    assert swept[1:4] == [2, 0, 3]
    # the cut runs' share is made up later, and nobody waits more than the cut added
    late = max(b - a for runs in verified.values() for a, b in pairwise(runs))
    assert late <= sweep_runs + 3
    assert stalest(entries, 3 * sweep_runs + 1) <= sweep_runs


def test_the_oldest_come_first_and_follow_ups_before_them() -> None:
    since = datetime(2026, 1, 10, tzinfo=UTC)
    entries = {
        "old": Entry(verified_run=1),
        "older": Entry(verified_run=0),
        "busy": Entry(verified_run=5, mark=(since + timedelta(hours=1)).isoformat()),
        "quiet": Entry(verified_run=5, mark=(since - timedelta(days=3)).isoformat()),
        "fresh": Entry(verified_run=6),
    }
    plan = plan_sweep(entries, 6, 5, done={"fresh"}, active_since=since)
    assert plan.follow_ups == ["busy"]
    assert plan.due == ["older", "old"], "quota ceil(5/5)=1, but both are overdue (six runs and five)"


def test_channels_with_activity_are_followed_up_at_the_next_run(emulator, duck_target: Target, monkeypatch) -> None:
    """Under the documents' reading of lastMessageTime a manager's reply is invisible to the
    window. A channel whose subscriber wrote is re-checked at the next run, so the reply
    that followed arrives one run later instead of within the sweep period."""
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "50")  # the rotating share alone would take 50 runs
    emu = emulator(scale=60)
    emu.knobs.last_message_time = "inbound"
    assert run_leeloo(duck_target) == 0
    wrote = emu.simulate(active_people=2)
    assert run_leeloo(duck_target) == 0  # reads what they wrote: the window shows it
    with emu.data_lock:
        reply = [m["id"] for c in wrote["touched_channels"]
                 for m in emu.data.send_outbound(emu.data.channel_by_id[c], emu.data.sim_rng, broadcast=False)]
    lmt = {c["id"]: c["lastMessageTime"] for c in emu.truth()["communication_channels"]}
    assert all(lmt[c] < max(m["createdAt"] for m in emu.truth()["chat_messages"] if m["account_id"] == c)
               for c in wrote["touched_channels"]), "the replies moved lastMessageTime: the test proves nothing"
    assert run_leeloo(duck_target) == 0
    loaded = set(duck_target.warehouse.ids("chat_messages"))
    assert set(reply) <= loaded, "a reply after the subscriber's message must arrive at the next run"


@pytest.mark.parametrize("last_message_time", ["inbound", "any"])
def test_after_sweep_runs_everything_equals_the_truth(emulator, target: Target, monkeypatch,
                                                      last_message_time: str) -> None:
    """Replies, broadcasts, CRM edits (tags, custom fields, e-mail), payments and deletions
    made after a full load are all in the warehouse after `sweep_runs` runs, under both
    readings of lastMessageTime (under "inbound" none of them moves it)."""
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "2")
    emu = emulator(scale=80, seed=5)
    emu.knobs.last_message_time = last_message_time
    assert run_leeloo(target) == 0
    changes = emu.simulate(replies=6, broadcasts=4, crm_edits=5, payments=4, new_orders=2, delete={
        "people": 2, "communication_channels": 2, "orders": 2, "tunnels": 1, "leadgentools": 1, "users": 1,
        "tags": 1, "connections": 1, "template_categories": 1, "templates": 1})
    assert changes["reply_messages"] and changes["crm_edits"] and changes["deleted"]["people"]
    for _ in range(2):
        assert run_leeloo(target) == 0
    truth = emu.truth()
    assert_matches_truth(target.warehouse, truth)
    edited = set(changes["crm_edits"])
    emails = dict(target.warehouse.query("select id, email from {ds}.people"))
    assert all(emails[p["id"]] == (p["email"] if p["email"] != "NOT_DEFINED" else None)
               for p in truth["people"] if p["id"] in edited)
    facts = [json.loads(f) if isinstance(f, str) else f for (f,) in target.warehouse.query(
        "select facts from {ds}._chatfunnel_runs order by started_at")]
    sweeps = [f["sweep_channels"] for f in facts if f and "sweep_channels" in f]
    rechecked = sum(s["swept"] + s["follow_ups"] for s in sweeps[1:])
    assert len(sweeps) == 3 and rechecked >= len(truth["communication_channels"])
    assert sweeps[-1]["stalest_runs"] <= 2, "every channel re-verified within the last two runs"


def test_short_budget_new_activity_first_then_the_sweep_resumes(emulator, duck_target: Target, monkeypatch,
                                                                capsys) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "3")
    emu = emulator(scale=60)
    emu.knobs.last_message_time = "inbound"
    assert run_leeloo(duck_target) == 0
    replies = emu.simulate(replies=8)["reply_messages"]
    wrote = emu.simulate(active_people=3)
    emu.reset_counts()
    # lists and reference (~15), 3 details and 3 chains: the news fits, the sweep's ~50 do not
    assert run_leeloo(duck_target, "--max-requests", "40") == 0
    assert "incomplete" in capsys.readouterr().out
    assert emu.request_counts()["total"] <= 40
    loaded = set(duck_target.warehouse.ids("chat_messages"))
    assert set(wrote["new_messages"]) <= loaded, "new activity goes before the sweep"
    assert not set(replies) <= loaded, "the budget cannot have covered the whole sweep"
    for _ in range(6):
        if not mismatches(duck_target.warehouse, emu.truth()):
            break
        assert run_leeloo(duck_target, "--max-requests", "40") == 0
    assert_matches_truth(duck_target.warehouse, emu.truth())

"""Deletions: proved only by a complete listing or a 404, marked as `deleted_at` (with what
hangs off them), never inferred from a listing that was cut, and cleared when the entity
comes back."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg2
import pytest

from tests.leeloo.conftest import Target, run_leeloo
from tests.leeloo.truth import assert_matches_truth

EVERY_TABLE = {"people": 2, "communication_channels": 2, "orders": 3, "tunnels": 1, "leadgentools": 1, "users": 1,
               "tags": 1, "connections": 1, "template_categories": 1, "templates": 1}


def marked(target: Target) -> dict[str, set[str]]:
    tables = target.warehouse.tables()
    return {table: {r[0] for r in target.warehouse.query(f"select id from {{ds}}.{table} where deleted_at is not null")}
            for table in ("people", "communication_channels", "chat_messages", "orders", "tunnels", "leadgentools",
                          "users", "tags", "connections", "template_categories", "templates") if table in tables}


def proofs(target: Target) -> dict[tuple[str, str], str | None]:
    if "_chatfunnel_deletions" not in target.warehouse.tables():
        return {}
    return {(t, i): p for t, i, p in target.warehouse.query(
        "select table_name, entity_id, proof from {ds}._chatfunnel_deletions")}


def test_what_is_gone_is_marked_with_what_hangs_off_it(emulator, target: Target, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "2")
    emu = emulator(scale=80, seed=3)
    assert run_leeloo(target) == 0
    gone = emu.simulate(delete=EVERY_TABLE)["deleted"]
    assert run_leeloo(target) == 0
    # counted lists re-read every run prove it at once; lists without a count need a second read
    now = marked(target)
    for table in ("orders", "tunnels", "users"):
        assert now[table] == set(gone[table]), table
    for table in ("tags", "connections", "template_categories"):
        assert not now[table] & set(gone[table]), f"{table}: one read of a list without a count proved it"
    assert run_leeloo(target) == 0  # people and channels within the sweep period; the second read
    assert_matches_truth(target.warehouse, emu.truth())
    now = marked(target)
    for table in ("tags", "connections", "template_categories"):
        assert now[table] == set(gone[table]), table
    assert now["people"] == set(gone["people"])
    assert set(gone["chat_messages"]) <= now["chat_messages"], "a channel's messages go with it"
    assert set(gone["leadgentools"]) <= now["leadgentools"], "a tunnel's tools go with it"
    why = proofs(target)
    assert all(why[("people", p)] == "404" for p in gone["people"])
    assert all(why[("orders", o)] == "404" for o in gone["orders"]), "an order missing from the list is confirmed"
    assert all(why[("tags", t)] == "listing_twice" for t in gone["tags"])


def test_a_listing_cut_by_the_budget_marks_nothing_deleted(emulator, duck_target: Target, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "1")  # every run lists everything and sweeps everyone
    emu = emulator(scale=150, page_cap=10)
    assert run_leeloo(duck_target) == 0
    gone = emu.simulate(delete={"orders": 3, "people": 2, "tunnels": 1, "users": 1})["deleted"]
    for budget in (5, 12, 20):  # the lists stop part-way: nothing they did not reach is gone
        assert run_leeloo(duck_target, "--max-requests", str(budget)) == 0
        assert not any(marked(duck_target).values()), f"a cut listing marked something deleted ({budget})"
        assert not proofs(duck_target) or all(p is None for p in proofs(duck_target).values())
    assert run_leeloo(duck_target) == 0
    now = marked(duck_target)
    assert now["orders"] == set(gone["orders"]) and now["people"] == set(gone["people"]), "a whole run proves it"


def test_an_entity_that_comes_back_is_live_again(emulator, duck_target: Target, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "2")
    anchor = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # regenerated data must be the same
    emu = emulator(scale=60, seed=9, anchor=anchor)
    assert run_leeloo(duck_target) == 0
    gone = emu.simulate(delete=EVERY_TABLE)["deleted"]
    for _ in range(2):
        assert run_leeloo(duck_target) == 0
    assert marked(duck_target)["people"] == set(gone["people"])
    emu.regenerate()  # the account as generated: everything deleted is back
    assert not any(emu.truth()["deleted"].values())
    for _ in range(2):
        assert run_leeloo(duck_target) == 0
    assert not any(marked(duck_target).values()), f"still marked: {marked(duck_target)}"
    assert_matches_truth(duck_target.warehouse, emu.truth())
    back = proofs(duck_target)
    assert all(back[("people", p)] is None for p in gone["people"]), "the ledger says they came back"


@pytest.mark.postgres
def test_a_failed_marking_says_the_data_is_loaded_and_the_next_run_marks_it(emulator, pg_target: Target,
                                                                             capsys) -> None:
    """The load commits before deletions are marked: a failure in marking must not claim the
    load was lost, and the next run marks what this one proved (the ledger is loaded).
    (A trigger refuses the marking's update; only Postgres has one.)"""
    target = pg_target
    emu = emulator(scale=40, seed=4)
    assert run_leeloo(target) == 0
    orders = f'"{target.dataset}".orders'
    with psycopg2.connect(target.warehouse.pg_dsn) as con, con.cursor() as cur:  # only the marking updates orders
        cur.execute("create or replace function pg_temp_refuse() returns trigger language plpgsql as "
                    "$$ begin raise exception 'updates refused'; end $$")
        cur.execute(f"create trigger refuse before update on {orders} for each row execute function pg_temp_refuse()")
    gone = emu.simulate(delete={"orders": 2})["deleted"]["orders"]
    capsys.readouterr()
    assert run_leeloo(target) == 1
    err = capsys.readouterr().err
    assert "refused to mark the deletions" in err and "updates refused" in err, err
    assert "data is loaded" in err and "reads that data again" not in err and "CREDENTIALS" not in err, err
    with psycopg2.connect(target.warehouse.pg_dsn) as con, con.cursor() as cur:
        cur.execute(f"drop trigger refuse on {orders}")
        cur.execute("drop function pg_temp_refuse()")
    assert run_leeloo(target) == 0
    assert marked(target)["orders"] == set(gone)
    assert_matches_truth(target.warehouse, emu.truth())

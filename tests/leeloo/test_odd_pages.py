"""A list page of unexpected shape (`data: null`) is a failed read of that listing, never an
empty list: nothing is marked deleted by it, the run says which listing it could not read,
and the next clean run equals the API. A deletion mark never outlives a sight of the entity.

Each run goes over HTTP to the emulator, whose odd-page knobs spoil the chosen pages."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.leeloo.conftest import Target, run_leeloo
from tests.leeloo.test_deletions import marked, proofs
from tests.leeloo.truth import assert_matches_truth

MESSAGES_OF = "/api/v2/communication-channels/{id}/chat-messages"


pytestmark = pytest.mark.usefixtures("quick_retries")  # a spoiled answer is retried six times


def busiest_channel(truth: dict[str, Any]) -> tuple[str, int]:
    """The channel with the most messages, and how many (from the emulator's truth)."""
    channel, count = Counter(m["account_id"] for m in truth["chat_messages"]).most_common(1)[0]
    return str(channel), count


def spoil(emu: Any, where: str, times: int | None = None) -> None:
    emu.knobs.odd_page, emu.knobs.odd_page_where, emu.knobs.odd_page_times = "null", where, times


def heal(emu: Any) -> None:
    emu.knobs.odd_page = None


def execute(target: Target, sql: str) -> None:
    """Write to the warehouse behind the pipeline's back (what an earlier version left)."""
    sql = sql.replace("{ds}", f'"{target.dataset}"')
    if target.destination == "duckdb":
        import duckdb

        with duckdb.connect(str(target.warehouse.duckdb_path)) as con:
            con.execute(sql)
        return
    import psycopg2

    with psycopg2.connect(target.warehouse.pg_dsn) as con, con.cursor() as cur:
        cur.execute(sql)


def test_a_channel_whose_messages_answer_null_loses_nothing_and_says_so(
        emulator, target: Target, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "1")  # every chain is re-read every run
    emu = emulator(scale=20, seed=5)
    assert run_leeloo(target) == 0
    channel, count = busiest_channel(emu.truth())
    assert count >= 2
    spoil(emu, MESSAGES_OF.format(id=channel))  # every page of that chain, through every retry
    capsys.readouterr()
    assert run_leeloo(target) == 0  # a partial run, as documented
    out = capsys.readouterr().out
    assert f"the messages of channel {channel} could not be read whole" in out, out
    assert "incomplete: " in out and "communication_channels" in out, out
    assert "marked deleted (gone from the API)" not in out, out
    assert not marked(target).get("chat_messages"), "live messages marked deleted"
    assert not [k for k, p in proofs(target).items() if k[0] == "chat_messages" and p], "a proof was written"
    assert len(emu.odd_pages()) >= 6, "the chain was asked for and its page stayed spoiled through the retries"
    heal(emu)
    assert run_leeloo(target) == 0
    assert_matches_truth(target.warehouse, emu.truth())
    assert not any(marked(target).values())


def test_a_null_page_that_a_retry_cures_changes_nothing(emulator, duck_target: Target, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "1")
    emu = emulator(scale=20, seed=5)
    assert run_leeloo(duck_target) == 0
    channel, _ = busiest_channel(emu.truth())
    spoil(emu, MESSAGES_OF.format(id=channel), times=1)
    assert run_leeloo(duck_target) == 0
    assert emu.knobs.odd_page_times == 0, "the spoiled page was never asked for"
    assert_matches_truth(duck_target.warehouse, emu.truth())
    assert not any(marked(duck_target).values())


def test_tunnels_answering_null_on_the_first_load_are_reported_then_loaded(
        emulator, target: Target, capsys) -> None:
    emu = emulator(scale=20, seed=6)
    truth = emu.truth()
    assert truth["tunnels"], "the account has tunnels"
    spoil(emu, "GET /api/v2/tunnels")
    capsys.readouterr()
    assert run_leeloo(target) == 0
    out = capsys.readouterr().out
    assert "tunnels: could not be read whole" in out, out
    for name in ("tunnels", "leadgentools", "tunnel_stats"):
        assert name in out.split("incomplete: ", 1)[1].split("\n", 1)[0], out
    heal(emu)
    assert run_leeloo(target) == 0
    assert_matches_truth(target.warehouse, emu.truth())
    loaded = target.warehouse.query("select count(*) from {ds}.tunnels where deleted_at is null")[0][0]
    assert loaded == len(truth["tunnels"])
    assert target.warehouse.query("select count(distinct tunnel_id) from {ds}.tunnel_stats")[0][0] == loaded


def test_a_stale_mark_on_a_live_message_is_cleared_when_the_message_is_read_again(
        emulator, target: Target, monkeypatch) -> None:
    """What an earlier version left: a live message marked deleted with a proof that stands,
    on the oldest message of a long chain (a read back to what is loaded never reaches it).
    The sweep reads a chain with marks whole: the read that sees the message clears both,
    and they stay cleared."""
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "1")
    monkeypatch.setenv("SOURCES__LEELOO__PAGE_SIZE", "10")  # a chain of 25 is three pages
    emu = emulator(scale=20, seed=5)
    assert run_leeloo(target) == 0
    emu.simulate(delete={"orders": 1})  # a real proof first: the deletions ledger exists
    assert run_leeloo(target) == 0
    channel, _ = busiest_channel(emu.truth())
    oldest = min((m for m in emu.truth()["chat_messages"] if str(m["account_id"]) == channel),
                 key=lambda m: m["createdAt"])["id"]
    load_id = target.warehouse.query("select max(load_id) from {ds}._dlt_loads where status = 0")[0][0]
    execute(target, f"update {{ds}}.chat_messages set deleted_at = current_timestamp where id = '{oldest}'")
    execute(target, "insert into {ds}._chatfunnel_deletions (table_name, entity_id, deleted_at, proof, observed_at, "
                    f"_dlt_load_id, _dlt_id) values ('chat_messages', '{oldest}', current_timestamp, 'listing', "
                    f"current_timestamp, '{load_id}', 'stale-proof')")
    assert marked(target)["chat_messages"] == {oldest}
    for _ in range(2):
        assert run_leeloo(target) == 0
        assert not marked(target)["chat_messages"], "the stale mark still stands"
    assert proofs(target)[("chat_messages", oldest)] is None, "the ledger says it is live"
    assert_matches_truth(target.warehouse, emu.truth())


def test_null_pages_at_random_never_mark_a_live_entity_and_heal(emulator, duck_target: Target, monkeypatch,
                                                                 capsys) -> None:
    """Most list pages answer null (and so do most retries: some reads fail whole), over
    runs with real deletions: at no point is a live entity marked; healed, the warehouse
    equals the API, its deletions included."""
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "1")
    emu = emulator(scale=20, seed=8)
    assert run_leeloo(duck_target) == 0
    emu.simulate(delete={"people": 1, "orders": 2, "communication_channels": 1})
    emu.knobs.odd_page, emu.knobs.odd_page_rate = "null", 0.6
    capsys.readouterr()
    for _ in range(2):
        assert run_leeloo(duck_target) == 0
        deleted = emu.truth()["deleted"]
        wrong = {t: ids - set(map(str, deleted.get(t, ()))) for t, ids in marked(duck_target).items()}
        assert not any(wrong.values()), f"live entities marked deleted: {wrong}"
    assert "could not be read whole" in capsys.readouterr().out, "no read failed whole: the test proves little"
    heal(emu)
    assert run_leeloo(duck_target) == 0
    assert_matches_truth(duck_target.warehouse, emu.truth())

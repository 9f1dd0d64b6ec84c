"""The Leeloo resources' decisions as plain functions: what to read, from how far back,
what is proved gone, what is complete. No dlt pipeline, no HTTP: each is called with the
ledger entries and list items a run would hand it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sources.bookkeeping import Entry, Ledger
from sources.deletions import Proof
from sources.leeloo.chains import Read, listed_read, loaded_until, messages_gone, reached, sweep_read
from sources.leeloo.lists import (
    ABSENT,
    BY_COUNTED_LIST,
    BY_DETAIL,
    BY_TWO_READS,
    absent_before,
    held_under,
    proof_method,
    prove_absent_twice,
    remember,
)
from sources.leeloo.orders import last_status, records_change
from sources.leeloo.reference import answered_whole, tools_in_detail
from sources.leeloo.run import listed_changed
from sources.leeloo.windowed import FOLLOW_UP, MISSING, SWEPT, lists_whole, recheck_targets

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def ledger(**entries: Entry) -> Ledger:
    return Ledger("things", {}, known=entries)


def test_a_list_entry_is_read_again_only_when_it_calls_for_it() -> None:
    same = Entry(fingerprint="abc")
    assert not listed_changed(same, "abc")
    assert listed_changed(same, "abd")  # its fingerprint moved
    assert listed_changed(None, "abc")  # new
    assert listed_changed(same, "abc", backfill=True)  # a backfill re-reads what it covers
    assert listed_changed(same, "abc", marked_deleted=True)  # back after a deletion


def test_the_listing_is_whole_on_a_full_listing_or_a_first_nightly_run() -> None:
    assert lists_whole(True, False, "2026-03-01T00:00:00+00:00")
    assert lists_whole(False, False, None)  # no cursor yet: from the start of history
    assert not lists_whole(False, False, "2026-03-01T00:00:00+00:00")
    assert not lists_whole(False, True, None)  # a backfill's window is not everything


def test_the_sweep_reads_the_missing_first_then_follow_ups_then_the_due() -> None:
    entries = {
        "gone?": Entry(verified_run=5),
        "active": Entry(mark=(T0 + HOUR).isoformat(), verified_run=5),
        "stale": Entry(mark=(T0 - 30 * HOUR).isoformat(), verified_run=1),
        "fresh": Entry(mark=(T0 - 30 * HOUR).isoformat(), verified_run=5),
        "read": Entry(verified_run=1),
    }
    listed = {"active", "stale", "fresh", "read"}
    targets = recheck_targets(entries, 6, 5, listed=listed, listing_whole=True, done={"read"}, active_since=T0)
    assert targets == [("gone?", MISSING), ("active", FOLLOW_UP), ("stale", SWEPT)]
    partial = recheck_targets(entries, 6, 5, listed=listed, listing_whole=False, done={"read"}, active_since=T0)
    assert ("gone?", MISSING) not in partial  # a listing not proved whole proves no absence
    assert dict(partial)["active"] == FOLLOW_UP


def test_a_listed_channel_is_read_back_to_where_it_was_loaded_less_the_overlap() -> None:
    loaded = Entry(fingerprint="f", mark=T0.isoformat())
    start = T0 - 48 * HOUR
    news = listed_read("c1", (T0 + HOUR).isoformat(), loaded, "g", backfill=False, window_start=start, overlap=HOUR)
    assert news == Read("c1", T0 - HOUR, T0 + HOUR, T0, "g", True)
    assert listed_read("c1", T0.isoformat(), loaded, "g", backfill=False, window_start=start, overlap=HOUR) is None
    new = listed_read("c2", T0.isoformat(), None, "g", backfill=False, window_start=start, overlap=HOUR)
    assert new is not None and new.loaded_until is None and not new.known  # a new chain is read whole
    backfill = listed_read("c1", T0.isoformat(), loaded, "g", backfill=True, window_start=start, overlap=HOUR)
    assert backfill is not None and backfill.loaded_until == start


def test_the_sweep_reads_a_chain_whole_when_it_holds_messages_marked_deleted() -> None:
    loaded = Entry(mark=T0.isoformat())
    assert sweep_read("c1", SWEPT, loaded, set(), HOUR) == Read("c1", T0 - HOUR, T0, T0, known=True, reason=SWEPT)
    assert sweep_read("c1", SWEPT, loaded, {"c1"}, HOUR).loaded_until is None
    assert sweep_read("c1", MISSING, None, set(), HOUR).loaded_until is None
    assert loaded_until(Entry(mark="")) is None


def test_a_proven_read_loads_the_channel_until_its_newest_message_never_past_the_run() -> None:
    task = Read("c1", None, T0, T0 - HOUR)
    assert reached(task, T0 + HOUR, now=T0 + 2 * HOUR) == (T0 + HOUR).isoformat()
    assert reached(task, T0 + 3 * HOUR, now=T0 + 2 * HOUR) == (T0 + 2 * HOUR).isoformat()
    assert reached(Read("c1", None, None, None), None, now=T0) is None


def test_messages_loaded_before_and_lacking_from_a_whole_chain_are_gone() -> None:
    read_whole = {"c1": {"m1", "m3"}, "c2": set()}
    loaded = {"c1": {"m1", "m2", "m3", "m4"}, "c2": {"m9"}, "c3": {"m7"}}
    assert messages_gone(read_whole, loaded) == ["m2", "m4", "m9"]  # c3 was not read whole


def test_an_order_records_a_change_when_first_seen_or_in_another_status() -> None:
    assert records_change(None, "new") and last_status(None) is None
    assert records_change(None, None)
    assert not records_change(Entry(mark="paid"), "paid")
    assert records_change(Entry(mark="new"), "paid") and last_status(Entry(mark="new")) == "new"
    assert not records_change(Entry(mark=""), None)  # "" is the ledger's "no status"


def test_how_a_lacking_reference_entity_is_proved_gone() -> None:
    assert proof_method("/tunnels/{id}", counted=True) == BY_DETAIL
    assert proof_method(None, counted=True) == BY_COUNTED_LIST
    assert proof_method(None, counted=False) == BY_TWO_READS
    assert answered_whole(None, 3) and answered_whole(3, 3)
    assert not answered_whole(10, 3)  # a first page, not the whole list


def test_a_count_less_list_proves_a_deletion_only_on_the_second_read_lacking_it() -> None:
    book = ledger(t1=Entry(fingerprint="x", mark="cat"), t2=Entry(fingerprint="x", mark="cat"),
                  t3=Entry(fingerprint="x", mark="other"))
    held = held_under(book.entries, {"cat"})
    assert held == ["t1", "t2"]
    first = Proof("things", seen={"t1"})
    prove_absent_twice(book, first, held)
    assert first.proved() == {} and absent_before(book, held) == {"t2"}
    second = Proof("things", seen={"t1"})
    prove_absent_twice(book, second, held)
    assert list(second.proved()) == ["t2"]
    back = Proof("things", seen={"t1", "t2"})
    remember(book, [{"id": "t2", "name": "again"}], mark="cat")
    prove_absent_twice(ledger(**book.entries), back, held)
    assert back.proved() == {} and book.entries["t2"].fingerprint != ABSENT


def test_remember_notes_only_new_or_changed_rows() -> None:
    book = ledger()
    remember(book, [{"id": "a", "name": "A"}])
    before = book.entries["a"]
    assert book.rows() is not None
    remember(book, [{"id": "a", "name": "A"}])
    assert book.rows() is None and book.entries["a"] is before
    remember(book, [{"id": "a", "name": "A"}], mark="parent")  # moved under another parent
    assert book.entries["a"].mark == "parent"


def test_a_tunnels_tools_are_found_where_the_detail_puts_them() -> None:
    tools = [{"id": "g1"}]
    assert tools_in_detail({"linked": {"leadgentools": tools}}) == tools
    assert tools_in_detail({"data": {"linked": {"leadgentools": tools}}}) == tools
    assert tools_in_detail({"data": {"id": "t1"}}) is None  # names no list: nothing is proved
    assert tools_in_detail({"linked": {"leadgentools": "?"}}) is None
    assert tools_in_detail([]) is None


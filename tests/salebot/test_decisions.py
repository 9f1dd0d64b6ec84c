"""What a Salebot run decides, tested as plain functions: no dlt pipeline, no HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sources.bookkeeping import Ledger
from sources.deletions import LISTING
from sources.http import UnexpectedAnswer
from sources.kit.batches import TableRows
from sources.kit.kinds import Shapes
from sources.kit.listing import SharedListing
from sources.kit.sweep import least_recently_verified, sweep_quota
from sources.report import SourceReport
from sources.salebot.clients import reconcile_listing
from sources.salebot.columns import hints
from sources.salebot.inbox import late_push_rows
from sources.salebot.memory import ClientMemory, Memory, OrderMemory
from sources.salebot.orders import status_change_row

NOW = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)


def _memory(*clients: int) -> Memory:
    memory = Memory(Ledger("client_details", {}, known={}))
    for cid in clients:
        memory.put_client(cid, ClientMemory(seen=1), verified=True)
    return memory


def test_a_client_the_complete_list_lacks_is_gone_only_once_it_does_not_answer() -> None:
    memory, rows = _memory(1, 2, 3), TableRows(hints)
    kept = reconcile_listing({1: {}}, True, memory, rows, exists=lambda cid: cid == 3)
    assert kept == [3], "a client that still answers is kept, and said to be left out"
    assert rows.deleted == {("clients", LISTING): [2]}
    assert memory.clients[2].deleted and not memory.clients[3].deleted


def test_an_incomplete_list_proves_no_deletion_and_a_listed_tombstone_is_back() -> None:
    memory, rows = _memory(1, 2), TableRows(hints)
    memory.put_client(2, ClientMemory(deleted=True), verified=False)
    assert reconcile_listing({2: {}}, False, memory, rows, exists=lambda cid: False) == []
    assert rows.deleted == {("clients", None): [2]}, "listed again: back, and nothing else marked"
    assert not memory.clients[1].deleted and not memory.clients[2].deleted


def test_a_status_change_row_names_both_sides_and_its_first_sighting_has_no_old_side() -> None:
    first = status_change_row(7, 1, None, status=0, state_id=None, seq=0, now=NOW)
    assert first["old_status"] is None and first["old_status_name"] is None and first["new_status"] == 0
    old = OrderMemory(1, 0, 5, 0, NOW, None)
    change = status_change_row(7, 1, old, status=1, state_id=6, seq=1, now=NOW)
    assert (change["old_status"], change["new_status"], change["old_state_id"], change["new_state_id"]) == (0, 1, 5, 6)
    assert change["changed_at"] is None and change["observed_at"] == NOW


def test_pushes_of_a_client_whose_history_was_read_do_not_land_twice() -> None:
    pushes = [{"payload": {"id": 10 + cid, "message": "hi", "client": {"id": cid}}, "received_at": 1.7e9}
              for cid in (1, 2)]
    rows = late_push_rows(pushes, {1}, Shapes())
    assert [r["client_id"] for r in rows] == [2] and rows[0]["origin"] == "webhook"


def test_the_sweep_quota_and_its_round_robin() -> None:
    assert sweep_quota(10, 7) == 2 and sweep_quota(0, 7) == 0 and sweep_quota(10, 0) == 0
    runs = {5: 3, 1: None, 4: 3, 2: 1}
    assert least_recently_verified(runs, 3) == [1, 2, 4], "never verified first, then oldest, ties by id"
    assert least_recently_verified(runs, 2, skip={1}) == [2, 4]


def _pages(*pages: list[Any], fail: bool = False) -> Iterator[list[Any]]:
    yield from pages
    if fail:
        raise UnexpectedAnswer("the page has no clients list")


def test_a_shared_listing_is_read_once_and_says_whether_it_is_whole() -> None:
    calls: list[int] = []

    def pages() -> Iterator[list[Any]]:
        calls.append(1)
        return _pages([{"id": 1}, {"id": 2}], [{"id": 2}, {"id": None}])

    report = SourceReport()
    listing = SharedListing("clients", "client", pages=pages, row=lambda item: item if item["id"] else None,
                            key=lambda row: row["id"], report=report)
    assert list(listing.get()) == [1, 2] and listing.complete
    listing.get()
    assert calls == [1], "read once per run"
    cut = SharedListing("clients", "client", pages=lambda: _pages([{"id": 1}], fail=True), row=dict,
                        key=lambda row: row["id"], report=report)
    assert list(cut.get()) == [1] and not cut.complete
    assert "clients" in report.incomplete
    assert report.warnings[0].startswith("clients: the client list could not be read whole")

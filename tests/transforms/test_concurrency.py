"""Concurrent writers on one Postgres database: rebuilds of one reports dataset from two
machines (two pipelines with their own local state), and rebuilds of several accounts
racing the cross-account views, never fail and never deadlock."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.transforms import fixture_data
from transforms.runner import build_account_views, build_reports

pytestmark = pytest.mark.postgres
ROUNDS = 5


def race(*calls: Callable[[], Any]) -> list[BaseException]:
    """Run the calls in threads released at the same instant; the exceptions they raised."""
    start = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        start.wait()
        try:
            call()
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a rebuild hung"
    return errors


def test_two_machines_rebuilding_one_dataset_take_turns(warehouse_factory) -> None:
    first = warehouse_factory("postgres")
    first.load(fixture_data.resources())
    # a second machine: its own pipeline and local state, the same dataset
    second = warehouse_factory("postgres", dataset=first.dataset)
    for round_ in range(ROUNDS):
        if round_ % 2 == 0:
            # no reports dataset yet: both create it at once (the pg_namespace race)
            first.execute(f'drop schema if exists "{first.dataset}_reports" cascade')
        errors = race(lambda: build_reports(first.pipeline, "leeloo"), lambda: build_reports(second.pipeline, "leeloo"))
        assert errors == [], f"round {round_}: {errors}"
        assert len(first.rows("tunnel_funnel")) == 5


@pytest.mark.slow
def test_accounts_rebuilding_while_the_cross_account_views_are_replaced(warehouse_factory) -> None:
    accounts = [warehouse_factory("postgres") for _ in range(3)]
    for wh in accounts:
        wh.load(fixture_data.resources())
        wh.build()
    pairs = [(f"a{i}", f"{wh.dataset}_reports") for i, wh in enumerate(accounts)]
    target = f"{accounts[0].dataset}_accounts"
    build_account_views(accounts[0].pipeline, "leeloo", pairs, target)
    for round_ in range(ROUNDS):
        if round_ == 2:
            # a shape change: the rebuild drops and recreates, cascading to the views
            for wh in accounts:
                wh.execute(f'alter table "{wh.dataset}_reports"."tunnel_funnel" drop column romi cascade')
        calls: list[Callable[[], Any]] = [functools.partial(build_reports, wh.pipeline, "leeloo") for wh in accounts]
        calls += [functools.partial(build_account_views, accounts[1].pipeline, "leeloo", pairs, target)] * 2
        errors = race(*calls)
        assert errors == [], f"round {round_}: {errors}"
    result = build_account_views(accounts[0].pipeline, "leeloo", pairs, target)
    assert result.views["tunnel_funnel"] == ["a0", "a1", "a2"]
    counts = accounts[0].query(f'select account, count(*) as n from "{target}"."tunnel_funnel" group by account')
    assert sorted((r["account"], r["n"]) for r in counts) == [("a0", 5), ("a1", 5), ("a2", 5)]

"""Odd list pages never turn into deletions (property-based).

A list page may come back with its ``data`` null or missing, cut short while ``meta`` still
tells the real counts, or with a string, a number or an object where the list is. A run
that read such a page as an empty list would mark live entities deleted. Hypothesis plays
nights: the account lives (new activity and deletions through ``simulate``), odd pages of a
random kind hit a random list route (or a random share of every list page, or only the
next one or two), and the real pipeline runs over HTTP into DuckDB. After every run:

- no entity the API has (the emulator's truth) is marked ``deleted_at`` in the warehouse;
- the warehouse equals the truth, or the run says what it could not read (a resource named
  incomplete, or a failed run), wherever that can be told: a Salebot list has no count, so
  a new client or message left out of one cut short cannot be (``NO_COUNT``);

and once the odd pages stop, one clean run (every entity swept each run: ``SWEEP_RUNS=1``)
equals the truth. The deterministic cases, one on Postgres, are in test_odd_pages_cases.py.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings

from tests.faults.nights import PHASES, Night, check, play, scenarios


# two drawn nights a CI run (each ~30 s) beside the pinned ones: the known cases are the
# @examples, the draws keep exploring from one CI run to the next
@settings(max_examples=2, deadline=None, database=None, print_blob=True, phases=PHASES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios())
@example(scenario=("leeloo", 438, [Night({"delete": {"template_categories": 2, "tunnels": 2, "templates": 1,
                                                            "orders": 1}, "active_people": 3, "new_people": 2,
                                                 "status_changes": 1, "replies": 2},
                                                "truncated", "/api/v2/tunnels", 1.0, 1)]))
@example(scenario=("salebot", 740, [Night({"new_clients": 1, "active_clients": 2}, "truncated",
                                          "/api/{api_key}/get_clients", 1.0, None)]))
def test_odd_pages_never_mark_live_data_deleted_and_never_pass_unsaid(
        scenario: tuple[str, int, list[Night]], capsys: pytest.CaptureFixture[str]) -> None:
    source, seed, plan = scenario
    check(play(source, seed, plan, capsys), plan)

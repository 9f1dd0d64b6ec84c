"""Upgrading loses nothing: a warehouse an older release loaded, then a day of activity
with deletions, then today's version on the same warehouse and dlt folder. Within the
sweep period the warehouse and the funnel reports equal the API; the first run says once
what it migrated (nothing, from a release that wrote the current layout); no line calls
chatfunnel's own columns the API's."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.warehouse import layout
from tests.leeloo.conftest import Target
from tests.leeloo.truth import assert_matches_truth
from tests.transforms import truth as reports
from tests.transforms.test_emulator import assert_report, keyed, read
from tests.upgrade import older

pytestmark = pytest.mark.slow

ACTIVITY = {"active_people": 8, "new_people": 3, "new_orders": 4, "status_changes": 3, "replies": 4,
            "crm_edits": 2, "delete": {"people": 3, "communication_channels": 3, "orders": 3, "tunnels": 1,
                                       "users": 1, "tags": 1, "templates": 1}}
SWEEP_RUNS = 1


def run_new(target: Target, capsys: pytest.CaptureFixture[str], *, reports: bool = False) -> tuple[int, str]:
    code = main(["run", "leeloo", *target.cli_args(), *(() if reports else ("--no-transform",)), "--progress", "none"])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("release", sorted(older.RELEASES))
def test_an_older_warehouse_upgrades_to_the_truth(release: str, emulator, target: Target, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    folder = older.extract(older.RELEASES[release], tmp_path / "releases")
    assert all(Path(f).is_relative_to(folder) for f in older.imported_from(folder)), "the old code must run"
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", str(SWEEP_RUNS))
    emu = emulator(scale=25, seed=11)
    first = older.run(folder, "run", "leeloo", *target.cli_args(), "--no-transform", "--progress", "none")
    assert first.returncode == 0, first.stdout + first.stderr
    held = target.warehouse.ids("people")
    old_layout = (target.warehouse.query("select max(version) from {ds}._chatfunnel_layout")[0][0]
                  if "_chatfunnel_layout" in target.warehouse.tables() else None)
    assert held, "the old release loaded people"
    gone = emu.simulate(**ACTIVITY)["deleted"]
    assert set(gone["people"]) <= set(held)

    outputs = []
    for run in range(SWEEP_RUNS + 1):  # within the sweep period (and the run that finds the news)
        code, output = run_new(target, capsys, reports=run == SWEEP_RUNS)
        assert code == 0, f"run {run}: {output}"
        outputs.append(output)
    truth = emu.truth()
    assert_matches_truth(target.warehouse, truth)
    keys = ("tunnel_id", "leadgentool_id", "traffic_source_id")
    assert_report("source_funnel", keyed(read(target.destination, target.dataset, "source_funnel"), *keys),
                  reports.source_funnel(truth))
    assert_report("revenue_by_source", keyed(read(target.destination, target.dataset, "revenue_by_source"), *keys,
                                             "currency"), reports.revenue_by_source(truth))
    said = "\n".join(outputs)
    assert "started to send" not in said, "the API sent nothing new: no column is the API's"
    # a release before the versioned layout loaded money as floats, which the first run makes
    # exact decimals (said once); a release that wrote the current layout is not migrated again
    migrated = sum("upgraded: warehouse layout" in o for o in outputs)
    assert migrated == (0 if old_layout == layout.CURRENT else 1), (old_layout, said)
    assert target.warehouse.query("select max(version) from {ds}._chatfunnel_layout")[0][0] == layout.CURRENT
    # strings stay text, as in a fresh load (the old layout could type a custom field's value
    # as a timestamp, depending on which person's detail its first run read first)
    assert target.warehouse.column_type("people__custom_fields", "value") in ("varchar", "character varying", "text")
    resources = target.pipeline().state["sources"]["leeloo"]["resources"]
    assert not any({"fingerprints", "messages_loaded_until"} & set(s) for s in resources.values())

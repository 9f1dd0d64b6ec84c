"""One convention for a value that does not fit its column: a Salebot warehouse the
previous release loaded with `<column>_raw` side columns has them renamed to
`<column>__v_text` (Leeloo's name) by the first run of today's version, values kept, on
DuckDB and Postgres; the next loads write the same columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from tests.salebot.conftest import Warehouse
from tests.upgrade import older
from tests.upgrade.test_salebot_upgrade import cli_args, cli_warehouse  # noqa: F401

pytestmark = pytest.mark.slow


def side_columns(wh: Warehouse, suffix: str) -> set[tuple[str, str]]:
    rows = wh.query("select table_name, column_name from information_schema.columns "
                    f"where table_schema = '{wh.dataset}' and column_name like '%{suffix}'")
    return {(t, c) for t, c in rows if c.endswith(suffix)}


def test_raw_side_columns_become_v_text(emu, cli_warehouse: Warehouse, tmp_path: Path, capsys) -> None:  # noqa: F811
    emu.knobs.update({"hostile": True})
    emu.regenerate()
    folder = older.extract(older.RELEASES["0.15.0"], tmp_path / "releases")
    first = older.run(folder, *cli_args(cli_warehouse))
    assert first.returncode == 0, first.stdout + first.stderr
    old = side_columns(cli_warehouse, "_raw")
    assert ("clients", "project_id_raw") in old, old
    kept = dict(cli_warehouse.query("select id, project_id_raw from {clients} where project_id_raw is not null"))
    assert kept
    code = main(cli_args(cli_warehouse))
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "side columns renamed" in out.out + out.err
    assert not side_columns(cli_warehouse, "_raw")
    assert {(t, c[: -len("_raw")] + "__v_text") for t, c in old} <= side_columns(cli_warehouse, "__v_text")
    now = dict(cli_warehouse.query("select id, project_id__v_text from {clients} where project_id__v_text is not null"))
    assert now == kept

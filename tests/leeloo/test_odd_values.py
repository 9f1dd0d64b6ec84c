"""Values of the wrong shape, strings a stranger typed, and fields the documents do not list:
the run never fails on them, keeps them losslessly, and says so once per kind."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from tests.leeloo.conftest import Target, run_leeloo
from tests.leeloo.truth import _text, assert_matches_truth

MODES = {"odd_shapes": True, "hostile": True, "extra_fields": True}
COLUMN = {"utmMarks": "utm_marks__utm_source"}  # where the emulator's odd field lands as a column


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def last_run(target: Target) -> dict[str, Any]:
    rows = target.warehouse.query("select warnings, facts from {ds}._chatfunnel_runs order by started_at desc limit 1")
    warnings, facts = rows[0]
    load = lambda v: json.loads(v) if isinstance(v, str) else v  # noqa: E731
    return {"warnings": load(warnings) or [], "facts": load(facts) or {}}


def test_odd_and_hostile_values_load_losslessly_and_are_named(emulator, target: Target) -> None:
    emu = emulator(scale=60, modes=MODES)
    assert run_leeloo(target) == 0, "one odd record must never fail a run"
    truth = emu.truth()
    # names, e-mails, phones, tags, titles, UTM marks, custom fields: objects as JSON text, NUL as U+FFFD
    assert_matches_truth(target.warehouse, truth)

    wh = target.warehouse
    odd = Counter((v["table"], v["field"]) for v in truth["odd_values"])
    assert len(odd) >= 12, "the emulator's odd-shapes mode did not reach every entity"
    warnings = last_run(target)["warnings"]
    for (table, field), n in odd.items():
        column = COLUMN.get(field, snake(field))
        counted = [w for w in warnings if w.startswith(f"{table}.{column}: ") and "wrong shape" in w]
        assert counted, f"no warning names {table}.{column}: {warnings}"
        assert int(counted[0].split(": ")[1].split()[0]) >= n, counted
    assert len(warnings) == len(set(warnings)), "one warning per kind, not one per row"

    raw_price = {o["id"]: o["price"] for o in truth["orders"]}
    for v in truth["odd_values"]:
        if (v["table"], v["field"]) == ("orders", "price"):
            ((price, kept),) = wh.query(f"select price, price__v_text from {{ds}}.orders where id = '{v['id']}'")
            assert price is None and kept == raw_price[v["id"]], "text where a number is expected is kept beside it"
        if v["table"] == "tunnel_stats":
            column = snake(v["field"])
            served = next(s[v["field"]] for s in truth["tunnel_stats"] if s["tunnel_id"] == v["id"])
            kept = wh.query(f"select {column}, {column}__v_text from {{ds}}.tunnel_stats where tunnel_id = '{v['id']}'")
            assert kept and kept[-1] == (None, _text(served))


def test_message_texts_are_stored_as_typed_on_every_engine(emulator, target: Target) -> None:
    """A NUL (valid JSON, which Postgres text cannot hold) becomes U+FFFD on both engines;
    an empty text stays an empty text (not NULL); 70,000 characters stay 70,000."""
    emu = emulator(scale=60, modes=MODES)
    assert run_leeloo(target) == 0
    truth = {m["id"]: _text(m.get("text")) for m in emu.truth()["chat_messages"]}
    loaded = dict(target.warehouse.query("select id, text from {ds}.chat_messages"))
    assert {k for k, v in truth.items() if v == ""}, "the emulator sent no empty text"
    assert any("\ufffd" in (v or "") for v in truth.values()) and any(len(v or "") >= 70_000 for v in truth.values())
    wrong = {k: (truth[k], loaded.get(k)) for k in truth if loaded.get(k) != truth[k]}
    assert not wrong, f"{len(wrong)} texts differ, e.g. {list(wrong.items())[:3]}"


def test_fields_the_api_adds_arrive_as_columns(emulator, target: Target) -> None:
    emu = emulator(scale=30, modes={"extra_fields": True})
    assert run_leeloo(target) == 0
    added = emu.truth()["extra_fields"]
    assert set(added) >= {"people", "communication_channels", "orders", "chat_messages", "tunnels"}
    for table, fields in added.items():
        columns = {r[0] for r in target.warehouse.query(
            "select column_name from information_schema.columns "
            f"where table_schema = '{target.dataset}' and table_name = '{table}'")}
        missing = {snake(f) for f in fields} - columns
        assert not missing, f"{table} dropped {missing}"
        column = snake(fields[0])
        assert target.warehouse.query(f"select count({column}) from {{ds}}.{table}")[0][0] > 0, (table, column)

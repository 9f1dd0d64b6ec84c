"""The odd-page knobs: a list page whose envelope key is null or missing, whose list is cut
short while meta still tells the real counts, or whose list is a string, a number or an
object; on every list route of both emulators, on a chosen route or a seeded share of pages,
for a number of times and then healed."""
from __future__ import annotations

import argparse
import collections
import json
from collections.abc import Iterator

import pytest
import requests

from emulators.base import ODD_PAGE_KINDS, Knobs, spoil_page
from emulators.cli import add_knob_arguments, knobs_from_args
from emulators.leeloo import LeelooEmulator
from emulators.salebot.emulator import SalebotEmulator
from tests.emulators.conftest import ANCHOR, TOKEN, Client, cli_emulator

WIDE = "filter[last_message][from]=2000-01-01&filter[last_message][to]=2100-01-01"


@pytest.fixture(scope="module")
def leeloo() -> Iterator[Client]:
    emu = LeelooEmulator(seed=4, scale=60, token=TOKEN, anchor=ANCHOR)
    with emu.serve() as url:
        yield Client(url, emu)


@pytest.fixture
def lc(leeloo: Client) -> Iterator[Client]:
    """The module's Leeloo client with the odd-page knobs off again after the test."""
    yield leeloo
    leeloo.emu.knobs.update(Knobs().to_dict())
    leeloo.emu.reset_counts()


def leeloo_lists(t: dict) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every Leeloo list route -> (a concrete path with its query, the keys to its list)."""
    channel = max(t["communication_channels"], key=lambda c: sum(m["account_id"] == c["id"]
                                                                  for m in t["chat_messages"]))["id"]
    category = t["template_categories"][0]["id"]
    data = ("data",)
    return {
        "/api/v2/people": (f"/api/v2/people?{WIDE}&limit=10", data),
        "/api/v2/communication-channels": ("/api/v2/communication-channels?limit=10", data),
        "/api/v2/communication-channels/{id}/chat-messages":
            (f"/api/v2/communication-channels/{channel}/chat-messages?limit=10", data),
        "/api/v2/orders": ("/api/v2/orders?limit=10", data),
        "/api/v2/tunnels": ("/api/v2/tunnels", data),
        "/api/v2/users": ("/api/v2/users", data),
        "/api/v2/tags": ("/api/v2/tags", data),
        "/api/v2/connections": ("/api/v2/connections", ("data", "connections")),
        "/api/v2/categories/templates": ("/api/v2/categories/templates", ("data", "categories")),
        "/api/v2/categories/templates/{id}": (f"/api/v2/categories/templates/{category}", ("data", "templates")),
        "/api/v1/accounts": ("/api/v1/accounts?limit=10", data),
        "/api/v1/accounts/{id}/chat-messages": (f"/api/v1/accounts/{channel}/chat-messages?limit=10", data),
    }


def at(body: dict, items: tuple[str, ...]):
    for key in items:
        body = body[key]
    return body


def expect_spoiled(clean: dict, odd: dict, items: tuple[str, ...], kind: str) -> None:
    """``odd`` is ``clean`` spoiled as ``kind`` says, and nothing else changed."""
    page = at(clean, items)
    assert isinstance(page, list) and len(page) >= 2, "the test needs a page of two or more"
    if kind == "null":
        assert odd == dict(clean, **{items[0]: None})
        return
    if kind == "missing":
        assert items[0] not in odd and odd == {k: v for k, v in clean.items() if k != items[0]}
        return
    expected = {"truncated": page[: len(page) // 2], "string": json.dumps(page, ensure_ascii=False),
                "number": len(page), "object": {str(i): item for i, item in enumerate(page)}}[kind]
    assert at(odd, items) == expected
    if kind == "string":
        assert json.loads(at(odd, items)) == page
    rest = json.loads(json.dumps(odd))
    parent = at(rest, items[:-1])
    parent[items[-1]] = page
    assert rest == clean, "only the list changed (meta still tells the real counts)"


@pytest.mark.parametrize("kind", ODD_PAGE_KINDS)
def test_every_leeloo_list_route_serves_each_kind_of_odd_page(lc: Client, kind: str) -> None:
    t = lc.truth()
    for template, (path, items) in leeloo_lists(t).items():
        clean = lc.json(path)
        lc.admin("knobs", {"odd_page": kind, "odd_page_where": template, "odd_page_times": 1})
        odd = lc.get(path)
        assert odd.status_code == 200
        expect_spoiled(clean, odd.json(), items, kind)
        assert lc.json(path) == clean, f"{template}: healed after the one odd page"
        assert lc.s.get(f"{lc.base}/__admin/knobs", timeout=10).json()["odd_page_times"] == 0
    served = lc.s.get(f"{lc.base}/__admin/odd-pages", timeout=10).json()
    assert [e["endpoint"] for e in served] == [f"GET {tpl}" for tpl in leeloo_lists(t)]
    assert {e["kind"] for e in served} == {kind}


@pytest.fixture(scope="module")
def salebot() -> Iterator[tuple[SalebotEmulator, str]]:
    emu = SalebotEmulator(seed=5, scale=30, anchor=ANCHOR)
    with emu.serve() as url:
        yield emu, url


@pytest.mark.parametrize("kind", ODD_PAGE_KINDS)
def test_every_salebot_list_action_serves_each_kind_of_odd_page(salebot, kind: str) -> None:
    emu, url = salebot
    t = emu.truth()
    rich = max(t["clients"], key=lambda c: sum(m["client_id"] == c["id"] for m in t["messages"]))["id"]
    pairs = collections.Counter((o["client_id"], o["status"]) for o in t["orders"])
    (buyer, status), n_orders = pairs.most_common(1)[0]
    assert n_orders >= 2
    base = f"{url}/api/{emu.api_key}/"
    calls = {"get_clients": ({"limit": 10}, ("clients",)),
             "get_history": ({"client_id": rich}, ("result",)),
             "get_orders": ({"client_id": buyer, "order_status": status}, ("order_id",))}
    try:
        for action, (params, items) in calls.items():
            clean = requests.get(base + action, params=params, timeout=10).json()
            emu.knobs.update({"odd_page": kind, "odd_page_where": f"*/{action}", "odd_page_times": 1})
            expect_spoiled(clean, requests.get(base + action, params=params, timeout=10).json(), items, kind)
            assert requests.get(base + action, params=params, timeout=10).json() == clean
        assert [e["endpoint"] for e in emu.odd_pages()] == [f"GET /api/{{api_key}}/{a}" for a in calls]
        assert all(emu.api_key not in json.dumps(e) for e in emu.odd_pages()), "no secret in the log"
    finally:
        emu.knobs.update({"odd_page": None, "odd_page_where": None, "odd_page_times": None})
        emu.reset_counts()


def test_an_answer_without_a_list_is_left_alone(salebot) -> None:
    emu, url = salebot
    emu.knobs.update({"odd_page": "null"})
    try:
        body = requests.get(f"{url}/api/{emu.api_key}/get_history", params={"client_id": 1}, timeout=10).json()
        assert body == {"status": "client_not_found"} and emu.odd_pages() == []
    finally:
        emu.knobs.update({"odd_page": None})


def test_only_list_routes_and_only_the_chosen_one_go_odd(lc: Client) -> None:
    t = lc.truth()
    person = t["people"][0]["id"]
    lc.admin("knobs", {"odd_page": "null", "odd_page_where": "GET /api/v2/orders"})
    assert lc.json(f"/api/v2/people/{person}")["data"]["id"] == person, "a detail is never spoiled"
    assert lc.json(f"/api/v2/people?{WIDE}")["data"], "another list route is not chosen"
    assert lc.get("/api/v2/orders").json()["data"] is None
    lc.admin("knobs", {"odd_page_where": "/api/v2/communication-channels/*/chat-messages"})
    channel = t["communication_channels"][0]["id"]
    assert lc.get(f"/api/v2/communication-channels/{channel}/chat-messages").json()["data"] is None
    assert lc.json("/api/v2/orders")["data"], "the glob chooses by path"
    lc.admin("knobs", {"odd_page_where": None})
    assert lc.get("/api/v2/tags").json()["data"] is None and lc.get("/api/v2/users").json()["data"] is None


def test_truncated_leaves_an_empty_page_alone_and_a_page_of_one_comes_back_empty(lc: Client) -> None:
    lc.admin("knobs", {"odd_page": "truncated", "odd_page_where": "GET /api/v2/orders", "odd_page_times": 1})
    total = len(lc.truth()["orders"])
    past_end = lc.json("/api/v2/orders", {"offset": total + 5})
    assert past_end["data"] == [] and lc.emu.knobs.odd_page_times == 1, "nothing to cut: not counted"
    last = lc.get("/api/v2/orders", {"offset": total - 1, "limit": 1}).json()
    assert last["data"] == [] and last["meta"]["totalCount"] == total, "empty, while meta says one is there"
    assert lc.emu.knobs.odd_page_times == 0


def _spoiled_offsets(rate: float, seed: int) -> list[int]:
    emu = LeelooEmulator(seed=seed, scale=60, token=TOKEN, anchor=ANCHOR)
    emu.knobs.update({"odd_page": "missing", "odd_page_rate": rate})
    headers = {"X-Leeloo-AuthToken": TOKEN}
    out = []
    for offset in range(60):
        body = json.loads(emu.dispatch("GET", f"/api/v2/orders?limit=1&offset={offset}", headers).body)
        if "data" not in body:
            out.append(offset)
    return out


def test_a_share_of_pages_is_drawn_from_the_seed_so_a_run_repeats() -> None:
    first = _spoiled_offsets(0.3, seed=11)
    assert first == _spoiled_offsets(0.3, seed=11), "the same seed spoils the same pages"
    assert first != _spoiled_offsets(0.3, seed=12)
    assert 5 <= len(first) <= 35, len(first)
    assert _spoiled_offsets(0.0, seed=11) == [] and len(_spoiled_offsets(1.0, seed=11)) == 60


def test_other_knobs_roll_the_same_dice_with_odd_pages_on() -> None:
    """Odd pages draw from their own stream: short pages stay as they were."""
    sizes = []
    for odd in (None, "truncated"):
        emu = LeelooEmulator(seed=2, scale=60, token=TOKEN, anchor=ANCHOR)
        emu.knobs.update({"short_pages": True, "odd_page": odd, "odd_page_rate": 0.5,
                          "odd_page_where": "GET /api/v2/users"})
        sizes.append([len(json.loads(emu.dispatch("GET", f"/api/v2/people?{WIDE}&limit=20&offset={o}",
                                                  {"X-Leeloo-AuthToken": TOKEN}).body)["data"])
                      for o in range(0, 60, 5)])
        emu.dispatch("GET", "/api/v2/users", {"X-Leeloo-AuthToken": TOKEN})
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize("bad", [{"odd_page": "empty"}, {"odd_page_rate": 1.5}, {"odd_page_times": -1},
                                 {"odd_page_times": "once"}, {"odd_page_where": 3}])
def test_a_bad_odd_page_knob_is_refused_and_changes_nothing(lc: Client, bad: dict) -> None:
    before = lc.s.get(f"{lc.base}/__admin/knobs", timeout=10).json()
    r = lc.s.post(f"{lc.base}/__admin/knobs", json=bad, timeout=10)
    assert r.status_code == 400 and r.json()["status"] == 0
    assert lc.s.get(f"{lc.base}/__admin/knobs", timeout=10).json() == before


def test_reset_forgets_the_odd_pages_served(lc: Client) -> None:
    lc.admin("knobs", {"odd_page": "number", "odd_page_times": 2})
    assert lc.get("/api/v2/tags").json()["data"] == len(lc.truth()["tags"])
    assert len(lc.s.get(f"{lc.base}/__admin/odd-pages", timeout=10).json()) == 1
    lc.admin("reset", {})
    assert lc.s.get(f"{lc.base}/__admin/odd-pages", timeout=10).json() == []


def test_spoil_page_changes_nothing_where_there_is_no_list() -> None:
    for body in ({"status": 0, "error": "x"}, {"status": 1, "data": {"connections": None}}, {"status": 1}):
        copy = json.loads(json.dumps(body))
        for kind in ODD_PAGE_KINDS:
            assert not spoil_page(copy, ("data", "connections"), kind) and copy == body


def test_the_command_line_sets_the_odd_page_knobs(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    add_knob_arguments(parser)
    k = knobs_from_args(parser.parse_args(["--odd-page", "object", "--odd-page-where", "/api/v2/tags",
                                           "--odd-page-rate", "0.25", "--odd-page-times", "3"]))
    assert (k.odd_page, k.odd_page_where, k.odd_page_rate, k.odd_page_times) == ("object", "/api/v2/tags", 0.25, 3)
    assert knobs_from_args(parser.parse_args([])).odd_page is None
    with cli_emulator(tmp_path, "--odd-page", "null", "--odd-page-where", "GET /api/v2/tags",
                      "--odd-page-times", "1") as (url, _banner):
        s = requests.Session()
        s.headers["X-Leeloo-AuthToken"] = TOKEN
        assert s.get(f"{url}/api/v2/tags", timeout=10).json()["data"] is None
        assert isinstance(s.get(f"{url}/api/v2/tags", timeout=10).json()["data"], list)

"""The deletion-proof engine's decisions, without dlt: what is absent, what is proven, what
comes back, and which pages the pager refuses to read as a list."""

from __future__ import annotations

from typing import Any

import pytest

from sources.deletions import (
    LISTED_TWICE,
    LISTING,
    NOT_FOUND,
    Proof,
    absent,
    absent_twice,
    empty_page_problem,
    list_problem,
    returned,
)
from sources.http import UnexpectedAnswer
from sources.kit.paging import Listing, detail_problem, page_problem
from sources.leeloo.paging import read_chain


def test_only_a_complete_listing_makes_anyone_absent() -> None:
    assert absent(["a", "b", "c"], {"b"}, complete=True) == ["a", "c"]
    assert absent(["a", "b", "c"], {"b"}, complete=False) == []


def test_seen_again_is_live_again_whatever_read_saw_it() -> None:
    assert returned({"a", "x"}, {"a", "b"}) == ["a"]
    proof = Proof("chat_messages", marked={"m1", "m2"})
    proof.see(["m1"])  # a partial read
    assert proof.back() == ["m1"]
    assert proof.proved() == {}


def test_the_newest_word_wins_within_a_run() -> None:
    proof = Proof("leadgentools", known=["t1", "t2"], marked={"t1"})
    proof.prove(["t1"], LISTING)  # gone from one tunnel's list ...
    proof.see(["t1"])  # ... then seen in another's: live
    assert proof.proved() == {}
    assert proof.back() == ["t1"]
    proof.see(["t2"])  # listed, then a 404 for its detail: gone
    proof.prove(["t2"], NOT_FOUND)
    assert proof.proved() == {"t2": NOT_FOUND}
    assert proof.by_proof() == {NOT_FOUND: ["t2"]}


def test_a_not_found_answer_proves_and_any_answer_does_not() -> None:
    proof = Proof("orders", known=["o1", "o2", "o3"], complete=True)
    proof.see(["o3"])
    assert proof.absent() == ["o1", "o2"]
    proof.confirm([("o1", None), ("o2", {"data": {"id": "o2"}})])
    assert proof.proved() == {"o1": NOT_FOUND}
    assert proof.absent() == ["o2"]  # still absent, never proved


@pytest.mark.parametrize(("data", "problem"), [
    (None, "null"), ("[]", "str"), (3, "int"), ({"0": {"id": 1}}, "dict"),
])
def test_a_list_that_is_not_a_list_is_a_problem(data: Any, problem: str) -> None:
    assert problem in (list_problem(data) or "")
    assert list_problem([]) is None


def test_an_empty_first_page_its_counts_contradict() -> None:
    assert empty_page_problem(0, [22, 22], first=True, whole_list=False) is not None
    assert empty_page_problem(0, [0, 40], first=True, whole_list=False) is None  # an empty window of 40
    assert empty_page_problem(0, [0, 40], first=True, whole_list=True) is not None
    assert empty_page_problem(0, [22], first=False, whole_list=True) is None  # later pages may end early
    assert empty_page_problem(3, [22], first=True, whole_list=True) is None


@pytest.mark.parametrize("body", [
    {"status": 1, "data": None, "meta": {"totalCount": 22, "filteredCount": 22}},
    {"status": 1, "meta": {"totalCount": 22}},
    {"status": 1, "data": "[]"},
    {"status": 1, "data": {"0": {"id": "a"}}},
    {"status": 1, "data": [], "meta": {"totalCount": 5, "filteredCount": 0}},
    [],
])
def test_pages_of_unexpected_shape(body: Any) -> None:
    assert page_problem(body, first=True, whole_list=True) is not None


def test_pages_of_the_expected_shape() -> None:
    assert page_problem({"data": [], "meta": {"totalCount": 0, "filteredCount": 0}}, first=True) is None
    assert page_problem({"data": {"templates": []}}, "templates", first=True, whole_list=True) is None
    assert page_problem({"data": {"templates": None}}, "templates") is not None
    assert page_problem({"data": {}}, "templates") is not None
    assert detail_problem({"data": {"id": "p"}}) is None
    assert detail_problem({"data": [{"id": "p"}]}) is None
    assert detail_problem({"data": None}) is not None


class Pages:
    """A list served page by page, with chosen pages spoiled; like the HTTP client, an
    answer that `expect` refuses is asked for again (`retries` times), then raises."""

    def __init__(self, items: list[dict[str, Any]], spoiled: dict[int, int], retries: int = 2) -> None:
        self.items = items
        self.spoiled = dict(spoiled)  # offset -> how many more answers there are spoiled
        self.retries = retries

    def answer(self, offset: int, limit: int) -> dict[str, Any]:
        meta = {"totalCount": len(self.items), "filteredCount": len(self.items)}
        if self.spoiled.get(offset, 0) > 0:
            self.spoiled[offset] -= 1
            return {"status": 1, "data": None, "meta": meta}
        return {"status": 1, "data": self.items[offset : offset + limit], "meta": meta}

    def get_json(self, path: str, params: dict[str, Any], expect: Any = None) -> dict[str, Any]:
        for _ in range(self.retries + 1):
            body = self.answer(params["offset"], params["limit"])
            if expect is None or (problem := expect(body)) is None:
                return body
        raise UnexpectedAnswer(f"{path}: {problem} after retries", 200, path)


MESSAGES = [{"id": f"m{i:02d}", "createdAt": f"2026-01-01T00:{59 - i:02d}:00Z"} for i in range(22)]


def test_a_null_page_that_retries_cure_is_read_whole() -> None:
    listing = Listing(Pages(MESSAGES, {0: 1}), "list", page_size=10, whole_list=True)
    assert [i["id"] for page in listing for i in page] == [m["id"] for m in MESSAGES]
    assert listing.complete


@pytest.mark.parametrize("offset", [0, 7])
def test_a_null_page_that_stays_is_a_failed_listing_never_an_empty_list(offset: int) -> None:
    listing = Listing(Pages(MESSAGES, {offset: 99}), "list", page_size=10, whole_list=True)
    with pytest.raises(UnexpectedAnswer):
        list(listing)
    assert not listing.complete
    assert "could not be read" in (listing.problem or "")


def test_a_chain_with_a_page_that_stays_null_keeps_what_it_read_and_proves_nothing() -> None:
    chain = read_chain(Pages(MESSAGES, {7: 99}), "c1", None, 10, None)
    assert not chain.complete and not chain.proven
    assert chain.problem is not None
    assert [m["id"] for m in chain.messages] == [m["id"] for m in MESSAGES[:10]]


def test_a_list_without_a_count_proves_a_deletion_only_with_the_previous_runs_read() -> None:
    assert absent_twice(["a", "b"], []) == ([], ["a", "b"]), "one read that lacks them proves nothing"
    assert absent_twice(["a", "b"], ["b", "c"]) == (["b"], ["a"]), "lacking twice: gone; c was seen again"
    proof = Proof("tags", known=["a", "b", "c"])
    proof.see(["c"])
    once = proof.prove_twice(["a", "b", "c"], {"a"})
    assert proof.proved() == {"a": LISTED_TWICE} and once == ["b"], "c was seen, so it is neither"

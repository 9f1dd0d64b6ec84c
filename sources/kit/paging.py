"""Offset paging over `{data, meta}` envelopes that survives a list moving under it, and
says when it cannot.

A listing is *complete* only when no item that was in the list the whole time can have
been skipped. Everything downstream leans on that verdict: a window cursor moves past
a window only when its listing was complete, and an entity is marked deleted only when a
complete listing lacks it. So the pager proves completeness or withholds it; it never
guesses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from sources.deletions import empty_page_problem, list_problem
from sources.http import UnexpectedAnswer
from sources.kit.values import entity_id, integer

logger = logging.getLogger("chatfunnel.sources")

PAGE_SIZE = 100
_STEP_BACK = -2  # `_anchor`: no anchor on this page, step back
ANCHORS = 3  # items re-read at the head of each page; a gap is only possible if all of them moved


class JsonGetter(Protocol):
    def get_json(self, path: str, params: Mapping[str, Any] | None = None,
                 expect: Callable[[Any], str | None] | None = None) -> Any: ...


def page_problem(body: Any, key: str | None = None, *, first: bool = False, whole_list: bool = False) -> str | None:
    """Why an answer is not a page of a list (None: it is one): no envelope, `data` null,
    missing or of another type, or an empty first page its own counts contradict. The
    client retries such an answer and then raises; it is never read as an empty list."""
    if not isinstance(body, dict):
        return "the answer is not an envelope"
    if "data" not in body:
        return "the page has no data"
    data = body["data"]
    if key is not None and isinstance(data, dict):
        if key not in data:
            return f"the page's data has no {key}"
        data = data[key]
    if (problem := list_problem(data)) is not None:
        return problem
    return empty_page_problem(len(data), meta_counts(body), first, whole_list)


def detail_problem(body: Any) -> str | None:
    """Why an answer is not one entity's detail (None: it is): its `data` must be an object."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        return "the detail's data is " + ("null" if data is None else f"{type(data).__name__}, not an object")
    return None


def meta_counts(body: Any) -> list[int]:
    """The counts of a page's `meta` that are numbers."""
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        return []
    counts = [integer(meta.get(k), "meta.count")[0] for k in ("totalCount", "filteredCount")]
    return [c for c in counts if c is not None]


def envelope_items(body: Any, key: str | None = None) -> list[dict[str, Any]]:
    """The items of an envelope's `data` (a list, an object, or an object holding `key`)."""
    data = body.get("data") if isinstance(body, dict) else None
    if key and isinstance(data, dict):
        data = data.get(key)
    if isinstance(data, dict):
        data = [data]
    return [item for item in data or [] if isinstance(item, dict)] if isinstance(data, list) else []


def meta_total(body: Any) -> int | None:
    """The documents contradict themselves on which count is the total; trust neither alone:
    the larger of the two is never below the number of items the list holds."""
    known = meta_counts(body)
    return max(known) if known else None


def item_key(item: Mapping[str, Any]) -> str:
    """What identifies an item while paging; an item without a usable id is its own JSON."""
    found = entity_id(item.get("id"))
    return found if found is not None else "~" + json.dumps(item, sort_keys=True, default=str)[:500]


@dataclass
class Listing:
    """Pages of one list endpoint, each item once, with a verdict on whether it is gap-free.

    Offsets shift when items leave the list while we page (a person who writes leaves the
    last-message window, so everything after them moves down), and a server may even
    change its order between requests. So:

    - each page is requested starting at the last few items already taken (the anchors);
      finding one proves where the page continues; finding none means the list moved,
      and the pager steps back until it finds one again;
    - the items before the anchor that was found must all have been taken already and
      none after it: otherwise the server's order is not stable and nothing is proved;
    - the end is proved, not assumed: by a page that reaches the larger of the two meta
      counts, or by an empty page right after the last item taken *followed by* a page
      that still shows that item at the same offset (so the list did not shrink in
      between, which would have made the empty page lie). A short page proves nothing,
      because the server may return fewer items than asked on any page.

    - with `whole_list` (no filter, so the meta count is the list's length), a final count
      above the items seen means items arrived behind the pager: they shift the anchors
      without breaking their order, so only the count shows them.

    - a page of unexpected shape (`page_problem`) is retried by the client and then
      raises `UnexpectedAnswer`: the listing is then not complete, `problem` says why,
      and the error goes on to the resource, which reports that listing as unread.

    `complete` is True only when every check held; `problem` says why not.
    """

    client: JsonGetter
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    page_size: int = PAGE_SIZE
    max_rewinds: int = 50
    # the meta counts are of the whole list (no filter): at the end, a count above the
    # items seen means items arrived where the pager had already passed
    whole_list: bool = False
    complete: bool = False
    rewinds: int = 0
    unidentified: int = 0
    problem: str | None = None

    def _unproven(self, why: str) -> None:
        if self.problem is None:
            self.problem = why
            logger.warning("%s: %s; the listing is not called complete", self.path, why)

    def _finish(self, total: int | None, seen: set[str]) -> None:
        if self.whole_list and total is not None and total > len(seen):
            self._unproven(f"the list grew behind the pager ({total} counted, {len(seen)} seen)")
        self.complete = self.problem is None

    def _get(self, offset: int) -> tuple[Any, list[dict[str, Any]], list[str]]:
        expect = partial(page_problem, first=offset == 0, whole_list=self.whole_list)
        try:
            body = self.client.get_json(self.path, {**self.params, "limit": self.page_size, "offset": offset}, expect)
        except UnexpectedAnswer as exc:
            self._unproven(f"a page could not be read ({exc})")
            raise
        items = envelope_items(body)
        return body, items, [item_key(item) for item in items]

    def _anchor(self, keys: list[str], tail: list[str], seen: set[str], *, may_step_back: bool) -> int:
        """Where in this page the last anchor found stands: -1 when none is (and stepping back
        is not allowed), `_STEP_BACK` when the pager should step back to find one."""
        present = [keys.index(key) for key in tail if key in keys]
        if not present:
            if may_step_back:
                return _STEP_BACK
            self._unproven("the list moved too much to find the last items taken")
            return -1
        if not _in_order(keys, present[-1], seen):
            self._unproven("the server changed the list's order while paging")
        return present[-1]

    def _take(self, items: list[dict[str, Any]], keys: list[str], seen: set[str]) -> list[dict[str, Any]]:
        """The items not taken before; one without a usable id is counted, not yielded."""
        fresh = []
        for item, key in zip(items, keys, strict=True):
            if key in seen:
                continue
            seen.add(key)
            if key.startswith("~"):
                self.unidentified += 1
            else:
                fresh.append(item)
        return fresh

    def identified(self) -> Iterator[tuple[dict[str, Any], str]]:
        """Every item taken, one by one, with its id: what a resource remembers, verifies and
        proves gone by. An item without a usable id cannot be any of that: the pager counts
        it in `unidentified` instead of yielding it."""
        for page in self:
            for item in page:
                found = entity_id(item.get("id"))
                if found is not None:
                    yield item, found

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        seen: set[str] = set()
        tail: list[str] = []  # keys of the last ANCHORS items taken, in list order
        start = progress = 0  # progress: pages that moved the listing on, each allows two more steps back
        last_len = self.page_size  # length of the last page that had items: the step when stepping back
        probe: tuple[str, int] | None = None  # the next request checks what follows this item at this offset
        ended: tuple[str, int] | None = None  # right after this item at this offset the list was empty
        self.complete, self.problem, self.rewinds, self.unidentified = False, None, 0, 0
        while True:
            body, items, keys = self._get(start)
            may_rewind = self.rewinds < self.max_rewinds + 2 * progress
            if probe is not None:
                (after, at), probe = probe, None
                ended = None if items else (after, at)
                if not items or may_rewind:
                    start = at  # next: a page that starts with that item, to confirm or to continue
                    self.rewinds += bool(items)
                    continue
                start = at + 1
                self._unproven("the server kept answering short pages at the anchors")
                tail = []  # take this page as it is
            reference = self._anchor(keys, tail, seen, may_step_back=start > 0 and may_rewind) if tail else -1
            if reference == _STEP_BACK:
                self.rewinds += 1
                start = max(0, start - max(1, (len(items) or last_len) - len(tail)))
                ended = None
                continue
            if tail and reference < 0:
                ended = None
            elif not tail and start > 0:
                self._unproven("the list moved too much to find the last items taken")
            if not items:  # an empty first page whose counts agree (checked) is an empty list; no other is
                self.complete = not tail and start == 0 and self.problem is None
                return
            new_items = items[reference + 1 :]
            fresh = self._take(new_items, keys[reference + 1 :], seen)
            seen.update(keys)
            last_len = len(items)
            if fresh:
                yield fresh
            if (total := meta_total(body)) is not None and start + len(items) >= total:
                self._finish(total, seen)
                return
            if new_items:
                ended = None
                progress += 1
                tail = keys[-ANCHORS:]
                start += len(keys) - len(tail)
                continue
            at = start + reference
            if ended is not None:
                if ended == (keys[reference], at):
                    self._finish(meta_total(body), seen)
                    return
                self.rewinds += 1  # the list moved between the empty page and this one
                if not may_rewind:
                    self._unproven("the end of the list kept moving")
                    return
            probe = (keys[reference], at)
            start = at + 1


def _in_order(keys: list[str], reference: int, seen: set[str]) -> bool:
    """In a list whose order holds, what precedes a taken item was taken and what follows was not."""
    return all(k in seen for k in keys[:reference]) and not any(k in seen for k in keys[reference + 1 :])

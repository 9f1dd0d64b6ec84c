"""Shared machinery for the API emulators (Leeloo.ai, Salebot.pro).

The emulators are real HTTP servers on loopback, built only on the standard
library, fast enough never to be the bottleneck of a pipeline run, and able to
reproduce the misbehaviours the API documents leave open (short pages, caps,
rate limits, 5xx with HTML bodies, ``status: 0`` bodies, data moving while a
client pages, field-shape drift).

Building a new emulator on top of this module
---------------------------------------------
1. Subclass :class:`EmulatorApp`; in ``__init__`` call ``super().__init__(seed=...,
   knobs=...)`` and register routes with :meth:`EmulatorApp.route`, e.g.::

       self.route("GET", "/api/{api_key}/get_clients", self.get_clients)

   A template's ``{name}`` segments match ``[^/]+`` and arrive in
   ``req.params``. The template (not the concrete path) is the key under which
   requests are counted, so secrets in paths never reach the counters.
   An emulator with knobs of its own subclasses :class:`Knobs` (a dataclass) and names
   the class in ``knobs_class``; a plain :class:`Knobs` given to the constructor is then
   copied into it, and ``cli.knobs_from_args(args, cls)`` fills its own fields from the
   parser arguments of the same names.
2. Override :meth:`EmulatorApp.authorize` (return True when the request may
   pass) and, if the API's error envelopes differ from Leeloo's
   ``{"status": 0, "error": ...}``, :meth:`EmulatorApp.error_body`.
3. Override :meth:`EmulatorApp.truth`, :meth:`EmulatorApp.simulate` and
   :meth:`EmulatorApp.regenerate` (used by the admin routes).
4. A handler takes a :class:`Request` and returns a :class:`Response`, or any
   JSON-serialisable object (sent as HTTP 200 JSON). Raise :class:`HTTPError`
   to answer an error with the app's error envelope.
5. Serve with ``EmulatorServer(app).start()`` or ``with app.serve() as url``.

Knob behaviours applied by :meth:`EmulatorApp.dispatch` to every *API* route
(routes registered with ``api=True``, the default), in this order:
authorisation (401) -> rate limit (429) -> ``error_rate``
(500/502/503 HTML) -> ``bad_status_rate`` (200 + ``{"status": 0, ...}``) ->
handler -> odd pages (list routes) -> latency (the answer leaves ``latency_ms`` after the request came).
``page_cap``/``short_pages`` are applied by :meth:`EmulatorApp.page`, which list
handlers call; ``sort``, ``mutate_rate``, ``meta_mode`` and
``drift`` are interpreted by each emulator, and so are the clock knobs
(``clock_offset_hours``, ``clock_zone_label_hours``: read the API's "now" with
:func:`api_clock_ms`; :func:`http_date_seconds` moves the ``Date`` header).

Odd pages (``odd_page``, ``odd_page_where``, ``odd_page_rate``, ``odd_page_times``) are
applied here, once for every emulator, to the answers of *list* routes: a route is a
list when it is registered with ``items=`` naming the keys that lead to its list (Leeloo's
people: ``("data",)``; its connections: ``("data", "connections")``; Salebot's
``get_clients``: ``("clients",)``). A successful answer of a chosen list route is then
spoiled after the handler built it: its envelope key ``null`` or missing, its list cut
short (the rest of the answer, ``meta`` included, unchanged), or its list replaced by a
string, a number or an object. ``GET /__admin/odd-pages`` lists what was served.

Admin routes (no auth, never counted, identical for every emulator):

- ``GET  /__admin/requests`` -> ``{"total", "by_endpoint", "by_status"}``
- ``POST /__admin/reset``    -> zero counters; body ``{"data": true}`` also
  regenerates the data from the seed
- ``GET  /__admin/knobs``, ``POST /__admin/knobs`` (JSON object of knob fields)
- ``POST /__admin/simulate`` (JSON kwargs for :meth:`EmulatorApp.simulate`)
- ``GET  /__admin/truth``
- ``GET  /__admin/odd-pages`` -> ``[{"endpoint", "kind", "query"}]``, every odd page
  served since the last reset, in order
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as _dt
import fnmatch
import http.server
import json
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "ODD_PAGE_KINDS",
    "EmulatorApp",
    "EmulatorServer",
    "HTTPError",
    "Knobs",
    "Request",
    "Response",
    "api_clock_ms",
    "iso_ms",
    "json_response",
    "parse_iso",
    "spoil_page",
]

SORT_MODES = ("desc", "asc", "random")
META_MODES = ("page", "filter")
HELD_ANSWER_LIMIT_S = 120.0  # answers_held() never hangs a client longer than this
# how a list page goes wrong: its envelope key null or absent, its list cut short while the
# rest of the answer (meta) still tells the real counts, or another JSON shape where the list is
ODD_PAGE_KINDS = ("null", "missing", "truncated", "string", "number", "object")


@dataclass
class Knobs:
    """Runtime switches of an emulator. Tests may set attributes on the live
    object (``emu.knobs.latency_ms = 50``); changes apply to the next request."""

    page_cap: int | None = None  # at most this many items per page, whatever limit asks
    short_pages: bool = False  # randomly fewer items than limit (never 0 while items remain)
    latency_ms: float = 0.0  # response time per request: answered this long after it came (requests overlap)
    rate_limit_per_min: int | None = None  # sliding 60 s window over authorised API requests; beyond: 429
    retry_after: bool = True  # 429 carries Retry-After (integer seconds >= 1); False: header omitted
    error_rate: float = 0.0  # fraction of API requests answered 500/502/503 with an HTML body
    bad_status_rate: float = 0.0  # fraction answered 200 with JSON {"status": 0, "error": "..."}
    sort: str = "desc"  # "desc" (newest first), "asc", or "random" (a stable shuffle)
    mutate_rate: float = 0.0  # per list-page request: probability that one person "writes" now
    # "page": filteredCount=len(page), totalCount=matching; "filter": filteredCount=matching, totalCount=all rows
    meta_mode: str = "page"
    drift: bool = False  # field-shape drift (custom_fields as object, prices/stats numbers as strings)
    # clocks: the API's "now" (what it stamps on new activity, what its filters compare with,
    # where a generated history ends) is the machine's plus clock_offset_hours (its HTTP Date
    # header says so too); clock_zone_label_hours: it writes the local time of UTC+N with a "Z"
    # (its stamps move by N hours, its Date header, written by the web server, does not)
    clock_offset_hours: float = 0.0
    clock_zone_label_hours: float = 0.0
    odd_page: str | None = None  # None, or one of ODD_PAGE_KINDS: how a chosen list page is spoiled
    # which list pages: None = every list route; else a route template with or without the method
    # ("GET /api/v2/people", "/api/{api_key}/get_clients") or a glob over the concrete path
    odd_page_where: str | None = None
    odd_page_rate: float = 1.0  # share of the chosen list pages spoiled (drawn from the seed: reproducible)
    odd_page_times: int | None = None  # spoil only this many more pages (counts down; 0 = healed); None: no end

    def validate(self) -> None:
        if self.sort not in SORT_MODES:
            raise ValueError(f"sort must be one of {SORT_MODES}, not {self.sort!r}")
        if self.meta_mode not in META_MODES:
            raise ValueError(f"meta_mode must be one of {META_MODES}, not {self.meta_mode!r}")
        self._validate_odd_page()
        for name in ("error_rate", "bad_status_rate", "mutate_rate", "odd_page_rate"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {v!r}")
        if self.page_cap is not None and int(self.page_cap) < 1:
            raise ValueError("page_cap must be >= 1 or None")
        if self.rate_limit_per_min is not None and int(self.rate_limit_per_min) < 1:
            raise ValueError("rate_limit_per_min must be >= 1 or None")
        if float(self.latency_ms) < 0:
            raise ValueError("latency_ms must be >= 0")
        if not -48 <= float(self.clock_offset_hours) <= 48:
            raise ValueError("clock_offset_hours must be within [-48, 48]")
        if not -12 <= float(self.clock_zone_label_hours) <= 14:
            raise ValueError("clock_zone_label_hours must be within [-12, 14] (a time zone)")

    def _validate_odd_page(self) -> None:
        """The odd-page knobs arrive as JSON from the admin route: check their types too."""
        if self.odd_page is not None and self.odd_page not in ODD_PAGE_KINDS:
            raise ValueError(f"odd_page must be one of {ODD_PAGE_KINDS} or null, not {self.odd_page!r}")
        if self.odd_page_where is not None and not isinstance(self.odd_page_where, str):
            raise ValueError(f"odd_page_where must be a route template, a path glob or null, "
                             f"not {self.odd_page_where!r}")
        times = self.odd_page_times
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
            raise ValueError(f"odd_page_times must be an integer >= 0 or null, not {times!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def update(self, changes: dict) -> None:
        """Apply a dict of field changes (validated; unknown fields raise ValueError).
        On a validation error nothing is changed."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}")
        trial = dataclasses.replace(self, **changes)
        trial.validate()
        for k, v in changes.items():
            setattr(self, k, v)


# --------------------------------------------------------------------------- time helpers

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def iso_ms(ms: int) -> str:
    """Epoch milliseconds -> ``2024-01-02T03:04:05.678Z`` (the APIs' JS date format)."""
    secs, milli = divmod(int(ms), 1000)
    t = time.gmtime(secs)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t[0], t[1], t[2], t[3], t[4], t[5], milli)  # noqa: UP031 - 30% faster than an f-string, and on every served timestamp


def to_ms(d: _dt.datetime) -> int:
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.UTC)
    return int((d - _EPOCH) / _dt.timedelta(milliseconds=1))


def now_ms() -> int:
    return int(time.time() * 1000)


def api_clock_ms(knobs: Knobs) -> int:
    """The API's "now" as it stamps it, in epoch ms: the machine's clock moved by the clock
    offset and the zone label (both knobs; see :class:`Knobs`)."""
    hours = float(knobs.clock_offset_hours) + float(knobs.clock_zone_label_hours)
    return now_ms() + round(hours * 3_600_000)


def http_date_seconds(knobs: Knobs) -> float:
    """The moment the API's HTTP ``Date`` header gives: only a wrong clock moves it, a zone
    label does not (the web server writes it, in GMT)."""
    return time.time() + float(knobs.clock_offset_hours) * 3600


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_iso(value: str, *, end_of_day: bool = False) -> int:
    """Parse ``YYYY-MM-DD`` or an ISO datetime (``Z``/offset/naive=UTC, with or
    without fractions) to epoch ms. A date-only value is the start of that UTC
    day, or its last millisecond when ``end_of_day``. Raises ValueError."""
    value = value.strip()
    if _DATE_RE.match(value):
        d = _dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=_dt.UTC)
        ms = to_ms(d)
        return ms + 86_400_000 - 1 if end_of_day else ms
    v = value.replace(" ", "T", 1) if "T" not in value and " " in value else value
    if v.endswith(("Z", "z")):
        v = v[:-1] + "+00:00"
    d = _dt.datetime.fromisoformat(v)
    return to_ms(d)


# --------------------------------------------------------------------------- odd pages


def odd_page_chosen(where: str | None, endpoint: str, path: str) -> bool:
    """Whether a list answer of ``endpoint`` (``"GET /route/{template}"``) at the concrete
    ``path`` is one ``odd_page_where`` chooses: None chooses every list route; a template
    matches with or without its method; anything else is a glob over the path (so a test
    can aim at one channel's messages: ``/api/v2/communication-channels/abc*/chat-messages``)."""
    if where is None:
        return True
    template = endpoint.split(" ", 1)[1]
    return where in (endpoint, template) or fnmatch.fnmatchcase(path, where)


def _list_at(body: Any, items: tuple[str, ...]) -> tuple[dict, list] | None:
    """The object holding the list ``items`` leads to, and the list; None when the answer
    has none there (an error envelope, ``client_not_found``)."""
    parent = body
    for key in items[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or not isinstance(parent.get(items[-1]), list):
        return None
    return parent, parent[items[-1]]


def spoil_page(body: Any, items: tuple[str, ...], kind: str) -> bool:
    """Spoil a list answer in place as ``kind`` says; False (nothing changed) when the answer
    holds no list at ``items`` or, for ``truncated``, an empty one (nothing to cut).

    ``null``/``missing`` act on the envelope key (``items[0]``: Leeloo's ``data`` even when the
    list sits below it, Salebot's ``clients``/``result``/``order_id``); the others on the list:
    ``truncated`` keeps its first half (rounded down: a page of one comes back empty), ``string``
    sends it JSON-encoded a second time, ``number`` sends its length, ``object`` sends it keyed
    by position (``{"0": item, ...}``, as PHP encodes an array with gaps)."""
    found = _list_at(body, items)
    if found is None or (kind == "truncated" and not found[1]):
        return False
    parent, page = found
    key = items[-1]
    if kind == "null":
        body[items[0]] = None
    elif kind == "missing":
        del body[items[0]]
    elif kind == "truncated":
        parent[key] = page[: len(page) // 2]
    elif kind == "string":
        parent[key] = json.dumps(page, ensure_ascii=False)
    elif kind == "number":
        parent[key] = len(page)
    elif kind == "object":
        parent[key] = {str(i): item for i, item in enumerate(page)}
    else:
        raise ValueError(f"odd_page must be one of {ODD_PAGE_KINDS}, not {kind!r}")
    return True


# --------------------------------------------------------------------------- request/response


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # email.message.Message-like (case-insensitive .get)
    body: bytes = b""
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    endpoint: str = ""  # "GET /route/{template}"

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter, or default."""
        v = self.query.get(name)
        return v[0] if v else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class HTTPError(Exception):
    """Raise inside a handler to answer ``status`` with the app's error body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status=status, body=body, headers=dict(headers or {}))


_HTML_ERRORS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}


def html_error(status: int) -> Response:
    title = f"{status} {_HTML_ERRORS.get(status, 'Error')}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()
    return Response(status=status, body=body, content_type="text/html")


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern
    handler: Callable[[Request], Any]
    api: bool
    items: tuple[str, ...] | None = None  # a list route: the keys leading to its list


def _compile_template(template: str) -> re.Pattern:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "/?$")


# --------------------------------------------------------------------------- the app


class EmulatorApp:
    """Router + knobs + counters + admin routes. Subclass per emulated API.

    Public, stable API (used by tests and by other emulators):

    - ``knobs`` (live :class:`Knobs`, or the subclass named by ``knobs_class``; a plain
      :class:`Knobs` given to the constructor is copied into it), ``seed``, ``rng`` (seeded ``random.Random``
      for knob decisions; use :meth:`chance`/:meth:`randint` which lock it),
      ``data_lock`` (``threading.RLock`` guarding the emulator's data)
    - :meth:`route`, :meth:`dispatch`, :meth:`page`
    - :meth:`request_counts`, :meth:`reset_counts`
    - :meth:`truth`, :meth:`simulate`, :meth:`regenerate` (override)
    - :meth:`serve` (context manager yielding the base URL)
    """

    name = "emulator"
    knobs_class: type[Knobs] = Knobs  # an emulator with its own knobs names their class here

    def __init__(self, *, seed: int = 1, knobs: Knobs | None = None):
        self.seed = seed
        if knobs is None:
            knobs = self.knobs_class()
        elif not isinstance(knobs, self.knobs_class):  # shared knobs given: keep their values
            knobs = self.knobs_class(**dataclasses.asdict(knobs))
        self.knobs = knobs
        self.knobs.validate()
        self.rng = random.Random(seed ^ 0x5EED)
        self._rng_lock = threading.Lock()
        self.data_lock = threading.RLock()
        self._count_lock = threading.Lock()
        self._by_endpoint: collections.Counter = collections.Counter()
        self._by_status: collections.Counter = collections.Counter()
        self._total = 0
        self._rate_window: collections.deque = collections.deque()
        self._rate_lock = threading.Lock()
        self._answers_open = threading.Event()
        self._answers_open.set()
        self._routes: list[Route] = []
        # odd pages draw from their own stream, so turning them on moves no other knob's dice
        self._odd_rng = random.Random(seed ^ 0x0DDA6E)
        self._odd_lock = threading.Lock()
        self._odd_log: list[dict] = []
        self._register_admin()

    # ---- routing
    def route(self, method: str, template: str, handler: Callable[[Request], Any], *, api: bool = True,
              items: tuple[str, ...] | None = None) -> None:
        """Register ``handler`` for ``method`` + path ``template`` (``{name}``
        segments become ``req.params[name]``). First registered match wins. ``items`` marks
        a list route (the keys leading to its list), the routes the odd-page knobs spoil."""
        self._routes.append(Route(method.upper(), template, _compile_template(template), handler, api, items))

    def _match(self, method: str, path: str) -> tuple[Route | None, dict, bool]:
        path_matched = False
        for r in self._routes:
            m = r.regex.match(path)
            if m:
                if r.method == method:
                    return r, m.groupdict(), True
                path_matched = True
        return None, {}, path_matched

    # ---- hooks to override
    def authorize(self, req: Request) -> bool:
        """Return True when the API request carries valid credentials."""
        return True

    def error_body(self, status: int, message: str) -> Any:
        """JSON body for an error answer (401, 404, 400, 429, bad status)."""
        return {"status": 0, "error": message}

    def truth(self) -> dict:
        raise NotImplementedError

    def simulate(self, *args: Any, **kwargs: Any) -> dict:
        """Make the account live; each emulator names its own keyword arguments."""
        raise NotImplementedError

    def regenerate(self) -> None:
        """Rebuild the data from the seed (admin reset with ``{"data": true}``)."""
        raise NotImplementedError

    # ---- knob helpers
    def chance(self, p: float) -> bool:
        if p <= 0:
            return False
        with self._rng_lock:
            return self.rng.random() < p

    def randint(self, a: int, b: int) -> int:
        with self._rng_lock:
            return self.rng.randint(a, b)

    def choice(self, seq):
        with self._rng_lock:
            return self.rng.choice(seq)

    def page(self, req: Request, total: int, *, default_limit: int = 20, max_limit: int = 100) -> tuple[int, int, int]:
        """Parse ``limit``/``offset`` and apply ``page_cap``/``short_pages``.

        Returns ``(offset, limit_as_asked, n)`` where ``n`` is how many items to
        serve from ``offset`` (0 when offset >= total). ``limit`` < 1 or absent
        means ``default_limit``; above ``max_limit`` it is cut to ``max_limit``.
        Non-integer or negative values raise HTTPError(400)."""
        raw_limit, raw_offset = req.arg("limit"), req.arg("offset")
        try:
            limit = default_limit if raw_limit is None else int(raw_limit)
            offset = 0 if raw_offset is None else int(raw_offset)
        except ValueError:
            raise HTTPError(400, "limit and offset must be integers") from None
        if offset < 0:
            raise HTTPError(400, "offset must be >= 0")
        if limit < 1:
            limit = default_limit
        eff = min(limit, max_limit)
        cap = self.knobs.page_cap
        if cap is not None:
            eff = min(eff, int(cap))
        n = max(0, min(eff, total - offset))
        if self.knobs.short_pages and n > 1 and self.chance(0.5):
            n = self.randint(1, n - 1)
        return offset, limit, n

    # ---- counters
    def _count(self, endpoint: str, status: int) -> None:
        with self._count_lock:
            self._total += 1
            self._by_endpoint[endpoint] += 1
            self._by_status[str(status)] += 1

    def request_counts(self) -> dict:
        """``{"total": N, "by_endpoint": {"GET /tpl": N}, "by_status": {"200": N}}``."""
        with self._count_lock:
            return {
                "total": self._total,
                "by_endpoint": dict(self._by_endpoint),
                "by_status": dict(self._by_status),
            }

    def reset_counts(self) -> None:
        """Zero the counters (and the rate-limit window)."""
        with self._count_lock:
            self._total = 0
            self._by_endpoint.clear()
            self._by_status.clear()
        with self._rate_lock:
            self._rate_window.clear()
        with self._odd_lock:
            self._odd_log.clear()

    def odd_pages(self) -> list[dict]:
        """Every odd page served since the last reset, in order: ``{"endpoint"`` (the route
        template, so no secret of a path), ``"kind"``, ``"query"`` (first value of each
        parameter)``}``."""
        with self._odd_lock:
            return [dict(e) for e in self._odd_log]

    def _rate_check(self) -> int | None:
        """None when allowed (and recorded), else seconds until a slot frees."""
        limit = self.knobs.rate_limit_per_min
        if not limit:
            return None
        now = time.monotonic()
        with self._rate_lock:
            w = self._rate_window
            while w and w[0] <= now - 60.0:
                w.popleft()
            if len(w) < int(limit):
                w.append(now)
                return None
            return max(1, math.ceil(w[0] + 60.0 - now))

    # ---- dispatch
    def _error(self, status: int, message: str, headers: dict | None = None) -> Response:
        return json_response(self.error_body(status, message), status, headers)

    def dispatch(self, method: str, target: str, headers: Any, body: bytes = b"") -> Response:
        """Answer one HTTP request (used by the server; callable directly in tests)."""
        parts = urlsplit(target)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        route, params, path_matched = self._match(method, path)
        if route is None:
            is_admin = path.startswith("/__admin/")
            resp = self._error(405 if path_matched else 404, "Method Not Allowed" if path_matched else "Not found")
            if not is_admin:
                self._count(f"{method} <unmatched>", resp.status)
            return resp
        req = Request(method, path, query, headers, body, params, f"{method} {route.template}")
        if not route.api:
            return self._call(route, req)
        k = self.knobs
        arrived = time.monotonic()
        if not self.authorize(req):
            resp = self._error(401, "Unauthorized")
        else:
            wait = self._rate_check()
            if wait is not None:
                hdrs = {"Retry-After": str(wait)} if k.retry_after else {}
                resp = self._error(429, "Too Many Requests", hdrs)
            elif self.chance(k.error_rate):
                resp = html_error(self.choice((500, 502, 503)))
            elif self.chance(k.bad_status_rate):
                resp = self._error(200, "Internal error, please try again later")
            else:
                resp = self._call(route, req)
        self._count(req.endpoint, resp.status)
        self._answers_open.wait(timeout=HELD_ANSWER_LIMIT_S)
        if k.latency_ms:
            # the answer leaves `latency_ms` after the request came, however long it took to
            # build: the knob is the server's response time, not a delay on top of our own
            time.sleep(max(0.0, float(k.latency_ms) / 1000.0 - (time.monotonic() - arrived)))
        return resp

    @contextlib.contextmanager
    def answers_held(self) -> Iterator[None]:
        """API answers wait (counted, not sent) until the block ends, at most
        ``HELD_ANSWER_LIMIT_S``: a test makes "a run is under way" a fact, not a race with
        how fast a busy machine starts a second process."""
        self._answers_open.clear()
        try:
            yield
        finally:
            self._answers_open.set()

    def _call(self, route: Route, req: Request) -> Response:
        try:
            out = route.handler(req)
        except HTTPError as e:
            return self._error(e.status, e.message)
        if isinstance(out, Response):
            return self._maybe_spoil(route, req, out)
        self._spoil(route, req, out)  # list answers are built fresh per request: spoiled in place
        return json_response(out)

    def _maybe_spoil(self, route: Route, req: Request, resp: Response) -> Response:
        """A pre-serialised list answer, spoiled when the odd-page knobs choose it."""
        if route.items is None or self.knobs.odd_page is None or resp.status != 200:
            return resp
        body = json.loads(resp.body.decode("utf-8"))
        if not self._spoil(route, req, body):
            return resp
        return json_response(body, resp.status, resp.headers)

    def _spoil(self, route: Route, req: Request, body: Any) -> bool:
        """Apply ``odd_page`` to one list answer when the knobs choose it: the route is
        chosen by ``odd_page_where``, times are left, the seeded draw falls within
        ``odd_page_rate``. Counts the time down and logs the page; True when spoiled."""
        k = self.knobs
        kind = k.odd_page
        if kind is None or route.items is None or not odd_page_chosen(k.odd_page_where, req.endpoint, req.path):
            return False
        with self._odd_lock:
            if k.odd_page_times is not None and k.odd_page_times <= 0:
                return False
            if float(k.odd_page_rate) < 1.0 and self._odd_rng.random() >= float(k.odd_page_rate):
                return False
            if not spoil_page(body, route.items, kind):
                return False
            if k.odd_page_times is not None:
                k.odd_page_times -= 1
            self._odd_log.append({"endpoint": req.endpoint, "kind": kind,
                                  "query": {name: v[0] for name, v in req.query.items() if v}})
        return True

    # ---- admin
    def _register_admin(self) -> None:
        self.route("GET", "/__admin/requests", lambda r: self.request_counts(), api=False)
        self.route("POST", "/__admin/reset", self._admin_reset, api=False)
        self.route("GET", "/__admin/knobs", lambda r: self.knobs.to_dict(), api=False)
        self.route("POST", "/__admin/knobs", self._admin_knobs, api=False)
        self.route("POST", "/__admin/simulate", self._admin_simulate, api=False)
        self.route("GET", "/__admin/truth", lambda r: self.truth(), api=False)
        self.route("GET", "/__admin/odd-pages", lambda r: self.odd_pages(), api=False)

    def _admin_body(self, req: Request) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise HTTPError(400, "body must be JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "body must be a JSON object")
        return body

    def _admin_reset(self, req: Request) -> dict:
        body = self._admin_body(req)
        if body.get("data"):
            self.regenerate()
        self.reset_counts()
        return {"status": 1, "data_regenerated": bool(body.get("data"))}

    def _admin_knobs(self, req: Request) -> dict:
        body = self._admin_body(req)
        try:
            self.knobs.update(body)
        except (ValueError, TypeError) as e:
            raise HTTPError(400, str(e)) from None
        return self.knobs.to_dict()

    def _admin_simulate(self, req: Request) -> dict:
        body = self._admin_body(req)
        try:
            return self.simulate(**body)
        except (TypeError, ValueError) as e:
            raise HTTPError(400, str(e)) from None

    # ---- serving
    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on a background thread; yields the base URL (``http://127.0.0.1:PORT``)."""
        server = EmulatorServer(self, host, port)
        url = server.start()
        try:
            yield url
        finally:
            server.stop()


# --------------------------------------------------------------------------- the HTTP server


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chatfunnel-emulator/1.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        app: EmulatorApp = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            resp = app.dispatch(self.command, self.path, self.headers, body)
        except Exception as e:  # noqa: BLE001 - a bug in a handler: answer 500 JSON, keep serving
            resp = json_response({"status": 0, "error": f"emulator bug: {type(e).__name__}: {e}"}, 500)
        reason = self.responses.get(resp.status, ("",))[0]
        head = [
            f"HTTP/1.1 {resp.status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string(http_date_seconds(app.knobs))}",
            f"Content-Type: {resp.content_type}",
            f"Content-Length: {len(resp.body)}",
        ]
        for k, v in resp.headers.items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (b"" if self.command == "HEAD" else resp.body)
        self.wfile.write(data)  # one write: no Nagle/delayed-ACK stall on keep-alive

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve  # noqa: N815 - names http.server calls


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class EmulatorServer:
    """Owns the HTTP server and its thread. ``start()`` returns the base URL."""

    def __init__(self, app: EmulatorApp, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.host = host
        self.port = port
        self._httpd: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None
        self._stopped = False

    def start(self) -> str:
        if self._httpd is not None:
            return self.base_url  # type: ignore[return-value]
        self._stopped = False
        httpd = _ThreadingServer((self.host, self.port), _Handler)
        httpd.app = self.app  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name=f"{self.app.name}-emulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        """Run in the calling thread (CLI). ``stop()`` from a signal handler ends it, also one
        that came before this call (a SIGTERM right after the banner): it must not start the
        server again and serve forever."""
        if self._httpd is None and not self._stopped:
            self.start()
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self._stopped = True
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

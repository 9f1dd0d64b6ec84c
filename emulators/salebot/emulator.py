"""A Salebot.pro constructor-API emulator: the READ actions a loader needs, plus the webhook push.

Follows the Salebot constructor-API document (the Russian original), and where it is open,
the readings in ``emulators/README.md``:

- every action lives at ``/api/<api_key>/<action>``; the key is a path segment;
- parameters the document lists under "Body" for GET actions are read from the query
  string; POST actions (``get_order_vars``) take a JSON body (query string accepted too);
- timestamps are unix seconds;
- ``get_clients``: ``offset``/``limit`` (default and max 500), no total; newest first,
  ``reverse=1`` oldest first;
- ``get_history``: ``client_id``, ``limit`` (default and max 2000), ``start_date`` and
  ``stop_date`` as ``dd.mm.yyyy`` (both or neither), day-granular, both inclusive,
  interpreted in the project's time zone (Moscow, UTC+3, by default - knob
  ``history_tz_hours``), so a loader that assumes UTC days must overlap windows; when a
  window holds more than ``limit`` messages the NEWEST ``limit`` are returned, oldest first;
- ``get_orders``: per client and ``order_status`` (0 active, 1 success, 2 failed), only
  ids: ``{"status": "success", "order_id": [...]}``; unknown client ->
  ``{"status": "client_not_found"}`` (HTTP 200, as the document shows it as a body);
- ``get_order_vars`` / ``get_order_state`` / ``get_current_order_id`` as documented;
- ``connected_channels``: the documented dict keyed by messenger;
- ``get_messages`` (bot blocks) and ``get_variables``: the document shows no answer;
  this emulator answers ``{"status": "success", "messages": [block, ...]}`` and a flat
  ``{name: value}`` dict respectively (choices, see docs/salebot.md);
- a wrong key: the document is silent; this emulator answers HTTP 401 with
  ``{"status": "error", "message": "Unauthorized"}``;
- a key without the permission an action needs (knob ``denied_actions``): the document
  only says the call "will not work"; this emulator answers HTTP 403 (or 404 with
  ``denied_status``) with ``{"status": "error", "message": ...}``;
- no order creation time: the document gives none, so orders carry none (the truth keeps
  the moment an order was made as ``created_at``, for tests to reason about);
- a client's ``updated_at`` moves on each of its messages and, by default, on order
  changes and variable changes; knob ``silent_crm`` keeps it still for orders, order
  moves, variables and managers' messages (the reading the document leaves open).

Knobs beyond the shared ones (:class:`SalebotKnobs`): ``webhook_url``, ``history_tz_hours``,
``silent_crm``, ``denied_actions``/``denied_status``, ``hostile`` (strangers' strings,
odd shapes and undocumented fields in generated data: set it before the data is made,
i.e. at construction or before ``POST /__admin/reset {"data": true}``, and it applies to
everything ``simulate`` makes).

Webhook: set ``emu.webhook_url`` (or the ``webhook_url`` knob via ``POST /__admin/knobs``)
and every NEW message created by :meth:`SalebotEmulator.simulate` (or by ``mutate_rate``)
is POSTed as JSON in the documented payload. Like Salebot, a failed delivery is not
retried; every attempt is recorded in ``emu.webhook_deliveries``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import random
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from emulators import hostile
from emulators.base import EmulatorApp, HTTPError, Knobs, Request, api_clock_ms

__all__ = ["ACTIONS", "DEFAULT_API_KEY", "ORDER_STATUSES", "SalebotEmulator", "SalebotKnobs"]

DEFAULT_API_KEY = "d3f31dabef80ddeb73d43938b4ef8bb0"
ORDER_STATUSES = {0: "active", 1: "success", 2: "failed"}

# messenger name in connected_channels -> client_type in get_clients (0 VK, 1 Telegram,
# 2 Viber, 6 WhatsApp, 8 Odnoklassniki: the values the document's examples use for VK and
# WhatsApp; the others follow Salebot's published client_type table)
_MESSENGERS = [
    ("telegram", 1),
    ("vkontakte", 0),
    ("whatsapp", 6),
    ("viber", 2),
    ("ok", 8),
]
# SalebotCRM funnel states: (state_id, order_status it belongs to)
_STATES = [(101, 0), (102, 0), (103, 0), (104, 1), (105, 2)]
# every READ action served, GET and POST alike (Salebot accepts both)
ACTIONS = (
    "get_clients",
    "get_history",
    "get_orders",
    "get_current_order_id",
    "get_order_state",
    "get_order_vars",
    "connected_channels",
    "get_messages",
    "get_variables",
)
# the list actions and the key their list sits under (the odd-page knobs spoil it there)
LIST_ITEMS = {"get_clients": ("clients",), "get_history": ("result",), "get_orders": ("order_id",)}
_FIRST_NAMES = ["Ольга", "Елена", "Иван", "Пётр", "Анна", "Мария", "Алексей", "Дмитрий", "Сергей", "Наталья"]
_CLIENT_TEXTS = [
    "Здравствуйте",
    "Сколько стоит?",
    "Хочу записаться",
    "А есть рассрочка?",
    "Спасибо!",
    "Да",
    "Нет",
    "Расскажи об услугах",
]
_BOT_TEXTS = [
    "Добрый день! Чем помочь?",
    "Стоимость услуг: от 1500 руб.",
    "Оставьте заявку",
    "Спасибо, с вами свяжется менеджер",
]


@dataclass
class SalebotKnobs(Knobs):
    """The shared knobs plus the Salebot-only ones (settable through ``/__admin/knobs``)."""

    webhook_url: str | None = None  # POST every new message here (documented payload)
    history_tz_hours: int = 3  # the time zone dd.mm.yyyy history windows are read in
    # updated_at stays still for new orders, order moves, variable changes, deletions of
    # orders and managers' messages (only the client's and the bot's messages move it)
    silent_crm: bool = False
    denied_actions: list[str] = dataclasses.field(default_factory=list)  # the key lacks their permission
    denied_status: int = 403  # how a denied action is answered: 403 or 404
    hostile: bool = False  # strangers' strings, odd shapes and extra fields in the data made from now on

    def validate(self) -> None:
        super().validate()
        if not -12 <= int(self.history_tz_hours) <= 14:
            raise ValueError("history_tz_hours must be within [-12, 14]")
        if int(self.denied_status) not in (403, 404):
            raise ValueError("denied_status must be 403 or 404")
        unknown = sorted(set(self.denied_actions) - set(ACTIONS))
        if unknown:
            raise ValueError(f"denied_actions: unknown action(s) {', '.join(unknown)}; known: {', '.join(ACTIONS)}")


def _parse_day(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value.strip(), "%d.%m.%Y").date()
    except ValueError:
        raise HTTPError(400, f"date must be dd.mm.yyyy, not {value!r}") from None


class SalebotEmulator(EmulatorApp):
    """Deterministic Salebot project: clients over several messengers, histories, CRM orders.

    ``seed`` fixes the data, ``scale`` is the number of clients (as Leeloo's is of people),
    ``anchor`` (aware datetime, default: now) is the moment the generated history ends.
    """

    name = "salebot"

    def __init__(
        self,
        seed: int = 1,
        scale: int = 60,
        api_key: str = DEFAULT_API_KEY,
        knobs: Knobs | None = None,
        anchor: dt.datetime | None = None,
    ) -> None:
        if knobs is None:
            knobs = SalebotKnobs()
        elif not isinstance(knobs, SalebotKnobs):
            knobs = SalebotKnobs(**dataclasses.asdict(knobs))
        super().__init__(seed=seed, knobs=knobs)
        self.scale = scale
        self.api_key = api_key
        # the history ends at the API's "now" (the clock knobs), unless told where
        self.anchor = int(anchor.timestamp()) if anchor else api_clock_ms(self.knobs) // 1000
        self.webhook_deliveries: list[dict[str, Any]] = []
        self._sim_rng = random.Random(seed * 7919 + 17)
        self.regenerate()
        prefix = "/api/{api_key}/"
        for action in ACTIONS:
            handler = self._permitted(action, getattr(self, "_h_" + action))
            items = LIST_ITEMS.get(action)
            self.route("GET", prefix + action, handler, items=items)
            self.route("POST", prefix + action, handler, items=items)  # Salebot accepts both
        self.route("GET", "/__admin/webhook", lambda r: self._admin_webhook_get(), api=False)
        self.route("POST", "/__admin/webhook", self._admin_webhook_set, api=False)

    # ------------------------------------------------------------------ properties
    @property
    def webhook_url(self) -> str | None:
        return self.knobs.webhook_url  # type: ignore[attr-defined]

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.knobs.webhook_url = url  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ data
    def regenerate(self) -> None:
        rng = random.Random(self.seed)
        with self.data_lock:
            self.project_id = 1000 + self.seed % 9000
            self.channels = self._gen_channels()
            self.blocks = [
                {
                    "id": 390 + i,
                    "name": name,
                    "text": _BOT_TEXTS[i % len(_BOT_TEXTS)],
                    "is_start": i == 0,
                }
                for i, name in enumerate(["Старт", "Прайс", "Заявка", "Спасибо", "Напоминание", "Рассылка"])
            ]
            if self.knobs.hostile:  # type: ignore[attr-defined]
                self.blocks[1]["name"] = {"ru": hostile.PAYLOADS[0], "en": "Price"}  # an object where text is
                self.channels["telegram"][1]["name"] = hostile.PAYLOADS[2]
                self.channels["telegram"][1]["short_name"] = ["funnel", "help"]
            self.clients: dict[int, dict[str, Any]] = {}
            self.client_vars: dict[int, dict[str, Any]] = {}
            self.messages: dict[int, list[dict[str, Any]]] = {}
            self.orders: dict[int, dict[str, Any]] = {}
            self._next_client = 44483
            self._next_message = 104500
            self._next_order = 40338
            n_clients = max(1, int(self.scale))
            start = self.anchor - 60 * 86400
            for _ in range(n_clients):
                created = rng.randint(start, self.anchor - 3 * 3600)
                cid = self._new_client(rng, created)
                t = created
                for _ in range(rng.randint(2, 24)):
                    t = min(t + rng.randint(30, 36 * 3600), self.anchor - 60)
                    self._new_message(rng, cid, t)
                for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 3])):
                    ot = rng.randint(created, max(created, self.anchor - 3600))
                    status = rng.choice([0, 0, 1, 1, 2])
                    self._new_order(rng, cid, ot, status)
            self._last_ts = self.anchor

    def _gen_channels(self) -> dict[str, Any]:
        out: dict[str, Any] = {"project_id": self.project_id}
        for n, (messenger, _ctype) in enumerate(_MESSENGERS):
            cid = 14 + n * 9
            if messenger == "telegram":
                items = [
                    {
                        "id": cid,
                        "short_name": "funnel_shop_bot",
                        "name": "funnel_shop_bot",
                        "enabled": True,
                        "group_id": "funnel_shop_bot",
                    },
                    {
                        "id": cid + 1,
                        "short_name": "funnel_help_bot",
                        "name": "funnel_help_bot",
                        "enabled": True,
                        "group_id": "funnel_help_bot",
                    },
                ]
            elif messenger == "vkontakte":
                items = [{"id": cid, "group": "143414131", "group_id": "143414131"}]
            elif messenger == "whatsapp":
                items = [
                    {
                        "id": cid,
                        "name": "79001234567",
                        "enabled": True,
                        "group_id": "1hwF7lwEjv4SKYIGFhQnBw==",
                        "status": 1,
                    }
                ]
            elif messenger == "viber":
                items = [{"id": cid, "uri": "salebotstage", "name": "salebotstage", "enabled": True, "group_id": 11}]
            else:
                items = [{"id": cid, "name": "ok_group", "enabled": False, "group_id": "54321"}]
            out[messenger] = items
        out["facebook"] = []
        out["avito"] = []
        return out

    def _pick_channel(self, rng: random.Random) -> tuple[int, str]:
        messenger, ctype = rng.choice([*_MESSENGERS[:4], *_MESSENGERS[:2]])
        item = rng.choice(self.channels[messenger])
        return ctype, str(item["group_id"])

    def _new_client(self, rng: random.Random, created: int) -> int:
        cid = self._next_client
        self._next_client += rng.randint(1, 5)
        ctype, group = self._pick_channel(rng)
        platform = str(rng.randint(10**8, 10**9)) if ctype != 6 else f"79{rng.randint(10**8, 10**9 - 1)}@s.whatsapp.net"
        self.clients[cid] = {
            "id": cid,
            "platform_id": platform,
            "client_type": ctype,
            "name": self._text(rng, rng.choice([*_FIRST_NAMES, None])),
            "avatar": None if rng.random() < 0.5 else f"https://files.salebot.pro/uploads/avatars/{platform[:9]}.jpg",
            "message_id": None,
            "project_id": self.project_id,
            "created_at": created,
            "updated_at": created,
            "custom_answer": None,
            "tag": rng.choice([None, None, "promo", "site"]),
            "group": group,
            "operator_start_dialog": None,
        }
        self.client_vars[cid] = {
            "client.name": self.clients[cid]["name"],
            "utm_source": rng.choice(["ig", "vk", "site", None]),
        }
        if self.knobs.hostile:  # type: ignore[attr-defined]
            client = self.clients[cid]
            if rng.random() < 0.2:
                client["project_id"] = f"project {self.project_id}"  # text where a number is
            client["comment"] = hostile.payload(rng)  # fields the document does not list
            client["utm"] = {"campaign": hostile.payload(rng), "clicks": rng.randint(0, 9)}
            self.client_vars[cid].update(
                {f"note {hostile.payload(rng)[:40]}": hostile.payload(rng), "profile": hostile.odd_shape(rng)}
            )
        self.messages[cid] = []
        return cid

    def _text(self, rng: random.Random, usual: Any) -> Any:
        """``usual``, or with the ``hostile`` knob often a stranger's string or an odd shape."""
        if not self.knobs.hostile:  # type: ignore[attr-defined]
            return usual
        roll = rng.random()
        if roll < 0.45:
            return hostile.payload(rng)
        if roll < 0.55:
            return copy.deepcopy(hostile.odd_shape(rng))
        return usual

    def _new_message(self, rng: random.Random, cid: int, t: int, kind: str | None = None) -> dict[str, Any]:
        kind = kind or rng.choice(["client", "client", "bot", "bot", "manager"])
        mid = self._next_message
        self._next_message += 1
        block = rng.choice(self.blocks)["id"] if kind == "bot" else None
        msg = {
            "id": mid,
            "answered": True,
            "client_replica": kind == "client",
            "message_id": block,
            "message_from_outside": 1 if kind == "manager" else 0,
            "created_at": t,
            "text": self._text(rng, rng.choice(_CLIENT_TEXTS if kind == "client" else _BOT_TEXTS)),
            "attachments": {},
            "delivered": True,
            "error_message": None,
            "manager_id": 12486 if kind == "manager" else None,
            "manager_email": "manager@example.com" if kind == "manager" else None,
        }
        if self.knobs.hostile:  # type: ignore[attr-defined]
            msg["forwarded_from"] = hostile.payload(rng)  # a field the document does not list
            if msg["manager_id"] is not None:
                msg["manager_id"] = str(msg["manager_id"])  # a number as text
        self.messages[cid].append(msg)
        client = self.clients[cid]
        if kind != "manager" or not self.knobs.silent_crm:  # type: ignore[attr-defined]
            client["updated_at"] = max(client["updated_at"], t)
        if block is not None:
            client["message_id"] = block
        return msg

    def _new_order(self, rng: random.Random, cid: int, t: int, status: int) -> int:
        oid = self._next_order
        self._next_order += rng.randint(1, 3)
        state = rng.choice([s for s, st in _STATES if st == status])
        self.orders[oid] = {
            "id": oid,
            "client_id": cid,
            "status": status,
            "state_id": state,
            "variables": {
                "name": self._text(rng, f"Заказ {oid}"),
                "budget": str(rng.choice([990, 1500, 4900, 12000])),
            },
            "created_at": t,  # the truth's, never served: the API gives no creation time
        }
        if self.knobs.hostile:  # type: ignore[attr-defined]
            self.orders[oid]["variables"]["comment"] = copy.deepcopy(hostile.odd_shape(rng))
        return oid

    # ------------------------------------------------------------------ auth & errors
    def authorize(self, req: Request) -> bool:
        return req.params.get("api_key") == self.api_key

    def error_body(self, status: int, message: str) -> Any:
        return {"status": "error", "message": message}

    def _permitted(self, action: str, handler: Any) -> Any:
        """``handler``, unless the key lacks the permission for ``action`` (knob ``denied_actions``)."""

        def guarded(req: Request) -> Any:
            if action in self.knobs.denied_actions:  # type: ignore[attr-defined]
                raise HTTPError(int(self.knobs.denied_status), f"the API key has no permission for {action}")  # type: ignore[attr-defined]
            return handler(req)

        return guarded

    # ------------------------------------------------------------------ helpers
    def _arg(self, req: Request, name: str) -> Any:
        """A parameter from the query string, else from a JSON object body."""
        value = req.arg(name)
        if value is not None:
            return value
        if req.body:
            try:
                body = req.json()
            except ValueError:
                raise HTTPError(400, "body must be JSON") from None
            if isinstance(body, dict):
                return body.get(name)
        return None

    def _int_arg(self, req: Request, name: str, *, required: bool = True) -> int | None:
        value = self._arg(req, name)
        if value in (None, ""):
            if required:
                raise HTTPError(400, f"parameter {name} is required")
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise HTTPError(400, f"parameter {name} must be an integer") from None

    def _drift_client(self, c: dict[str, Any]) -> dict[str, Any]:
        if not self.knobs.drift:
            return dict(c)
        out = dict(c)
        for k in ("created_at", "updated_at", "client_type"):
            out[k] = str(out[k])
        return out

    def _drift_message(self, m: dict[str, Any]) -> dict[str, Any]:
        out = dict(m)
        if self.knobs.drift:
            out["created_at"] = str(out["created_at"])
            out["attachments"] = []
        return out

    # ------------------------------------------------------------------ handlers
    def _h_get_clients(self, req: Request) -> Any:
        if self.chance(self.knobs.mutate_rate):
            self._mutate_one()
        reverse = str(self._arg(req, "reverse") or "").lower() in ("1", "true", "yes")
        with self.data_lock:
            ids = sorted(self.clients)
            if self.knobs.sort == "random":
                random.Random(self.seed).shuffle(ids)
            else:
                newest_first = self.knobs.sort == "desc"
                if reverse:
                    newest_first = not newest_first
                if newest_first:
                    ids.reverse()
            offset, _limit, n = self.page(req, len(ids), default_limit=500, max_limit=500)
            page = [self._drift_client(self.clients[i]) for i in ids[offset : offset + n]]
        return {"status": "success", "clients": page}

    def _h_get_history(self, req: Request) -> Any:
        cid = self._int_arg(req, "client_id")
        limit = self._int_arg(req, "limit", required=False) or 2000
        limit = max(1, min(limit, 2000))
        start, stop = self._arg(req, "start_date"), self._arg(req, "stop_date")
        if bool(start) != bool(stop):
            raise HTTPError(400, "start_date and stop_date must be given together")
        with self.data_lock:
            if cid not in self.clients:
                return {"status": "client_not_found"}
            msgs = list(self.messages[cid])
        if start:
            tz = dt.timezone(dt.timedelta(hours=int(self.knobs.history_tz_hours)))  # type: ignore[attr-defined]
            lo = int(dt.datetime.combine(_parse_day(start), dt.time(), tz).timestamp())
            hi = int(dt.datetime.combine(_parse_day(stop) + dt.timedelta(days=1), dt.time(), tz).timestamp())
            msgs = [m for m in msgs if lo <= m["created_at"] < hi]
        msgs.sort(key=lambda m: (m["created_at"], m["id"]))
        msgs = msgs[-limit:]
        return {"status": "success", "result": [self._drift_message(m) for m in msgs]}

    def _client_or_none(self, req: Request) -> int | None:
        cid = self._int_arg(req, "client_id")
        with self.data_lock:
            return cid if cid in self.clients else None

    def _h_get_orders(self, req: Request) -> Any:
        cid = self._client_or_none(req)
        if cid is None:
            return {"status": "client_not_found"}
        status = self._int_arg(req, "order_status", required=False) or 0
        if status not in ORDER_STATUSES:
            raise HTTPError(400, "order_status must be 0, 1 or 2")
        with self.data_lock:
            ids = sorted(o["id"] for o in self.orders.values() if o["client_id"] == cid and o["status"] == status)
        return {"status": "success", "order_id": ids}

    def _current_order(self, cid: int) -> int | None:
        active = [o["id"] for o in self.orders.values() if o["client_id"] == cid and o["status"] == 0]
        return max(active) if active else None

    def _h_get_current_order_id(self, req: Request) -> Any:
        cid = self._client_or_none(req)
        if cid is None:
            return {"status": "client_not_found"}
        with self.data_lock:
            return {"status": "success", "order_id": self._current_order(cid)}

    def _order_of(self, req: Request) -> dict[str, Any] | str:
        cid = self._client_or_none(req)
        if cid is None:
            return "client_not_found"
        oid = self._int_arg(req, "order_id", required=False)
        with self.data_lock:
            if oid is None:
                oid = self._current_order(cid)
            order = self.orders.get(oid) if oid is not None else None
            if order is None or order["client_id"] != cid:
                return "order not found"
            return copy.deepcopy(order)

    def _h_get_order_state(self, req: Request) -> Any:
        order = self._order_of(req)
        if isinstance(order, str):
            return {"status": order}
        return {"status": "success", "state_id": order["state_id"]}

    def _h_get_order_vars(self, req: Request) -> Any:
        order = self._order_of(req)
        if isinstance(order, str):
            return {"status": order}
        wanted = self._arg(req, "variables")
        if isinstance(wanted, str):
            try:
                wanted = json.loads(wanted)
            except ValueError:
                wanted = [wanted]
        variables = dict(order["variables"])
        if wanted:
            variables = {k: v for k, v in variables.items() if k in wanted}
        return {"status": "success", "result": variables}

    def _h_connected_channels(self, req: Request) -> Any:
        with self.data_lock:
            return copy.deepcopy(self.channels)

    def _h_get_messages(self, req: Request) -> Any:
        with self.data_lock:
            return {"status": "success", "messages": copy.deepcopy(self.blocks)}

    def _h_get_variables(self, req: Request) -> Any:
        cid = self._client_or_none(req)
        if cid is None:
            return {"status": "client_not_found"}
        with self.data_lock:
            return dict(self.client_vars[cid])

    # ------------------------------------------------------------------ truth
    def truth(self) -> dict:
        """The whole project in the API's own shapes, plus ``client_id`` on messages and
        orders, the moment each order was made (``created_at``, which the API never
        serves) and ``client_variables`` (``{client id: get_variables answer}``)."""
        with self.data_lock:
            return {
                "clients": [copy.deepcopy(self.clients[c]) for c in sorted(self.clients)],
                "client_variables": {c: copy.deepcopy(self.client_vars[c]) for c in sorted(self.clients)},
                "messages": [
                    {**copy.deepcopy(m), "client_id": cid} for cid in sorted(self.messages) for m in self.messages[cid]
                ],
                "orders": [copy.deepcopy(self.orders[o]) for o in sorted(self.orders)],
                "channels": copy.deepcopy(self.channels),
                "blocks": copy.deepcopy(self.blocks),
            }

    # ------------------------------------------------------------------ simulate
    def _now(self) -> int:
        """Simulated events happen now, strictly after everything that exists."""
        t = max(api_clock_ms(self.knobs) // 1000, self._last_ts + 1)  # the API's clock (the clock knobs)
        self._last_ts = t
        return t

    def simulate(
        self,
        *,
        active_clients: int = 0,
        new_clients: int = 0,
        new_orders: int = 0,
        status_changes: int = 0,
        variable_changes: int = 0,
        delete_clients: int = 0,
        delete_orders: int = 0,
        touch_clients: bool | None = None,
    ) -> dict:
        """Make activity happen now.

        ``active_clients`` existing clients each exchange 1-3 messages; ``new_clients``
        arrive and greet the bot; ``new_orders`` are opened for random clients (as a bot
        block or a manager would); ``status_changes`` open orders move to another CRM state
        (and so, maybe, status); ``variable_changes`` clients get a variable set by a
        block; ``delete_clients`` clients are deleted with their messages, orders and
        variables (they answer ``client_not_found`` from now on); ``delete_orders``
        orders are deleted. ``touch_clients``: whether these CRM-side changes advance the
        client's ``updated_at``; None (default) follows the ``silent_crm`` knob.
        Every new message is pushed to ``webhook_url`` when set.
        """
        counts = {
            "active_clients": active_clients,
            "new_clients": new_clients,
            "new_orders": new_orders,
            "status_changes": status_changes,
            "variable_changes": variable_changes,
            "delete_clients": delete_clients,
            "delete_orders": delete_orders,
        }
        for name, v in counts.items():
            if int(v) < 0:
                raise ValueError(f"{name} must be >= 0")
        touch = (not self.knobs.silent_crm) if touch_clients is None else bool(touch_clients)  # type: ignore[attr-defined]
        rng = self._sim_rng
        created_msgs: list[tuple[int, dict[str, Any]]] = []
        out: dict[str, list[int]] = {k: [] for k in (*counts, "messages")}
        with self.data_lock:
            created_msgs += self._sim_active_clients(rng, int(active_clients), out)
            created_msgs += self._sim_new_clients(rng, int(new_clients), out)
            self._sim_new_orders(rng, int(new_orders), touch, out)
            self._sim_status_changes(rng, int(status_changes), touch, out)
            self._sim_variable_changes(rng, int(variable_changes), touch, out)
            self._sim_delete_clients(rng, int(delete_clients), out)
            self._sim_delete_orders(rng, int(delete_orders), touch, out)
            created_msgs = [(cid, m) for cid, m in created_msgs if cid in self.clients]
            out["messages"] = [m["id"] for _, m in created_msgs]
            for key in ("new_orders", "status_changes"):
                out[key] = [oid for oid in out[key] if oid in self.orders]
        self._push(created_msgs)
        return out

    def _sim_active_clients(self, rng: random.Random, n: int, out: dict[str, list[int]]) -> list[tuple[int, dict]]:
        """Existing clients write, and the bot or a manager may answer (1-3 messages)."""
        created = []
        existing = sorted(self.clients)
        for cid in rng.sample(existing, min(n, len(existing))):
            out["active_clients"].append(cid)
            kinds = ["client"] + [rng.choice(["bot", "client", "manager"]) for _ in range(rng.randint(0, 2))]
            for kind in kinds:
                created.append((cid, self._new_message(rng, cid, self._now(), kind)))
        return created

    def _sim_new_clients(self, rng: random.Random, n: int, out: dict[str, list[int]]) -> list[tuple[int, dict]]:
        """New clients greet the bot, which answers."""
        created = []
        for _ in range(n):
            cid = self._new_client(rng, self._now())
            out["new_clients"].append(cid)
            for kind in ("client", "bot"):
                created.append((cid, self._new_message(rng, cid, self._now(), kind)))
        return created

    def _sim_new_orders(self, rng: random.Random, n: int, touch: bool, out: dict[str, list[int]]) -> None:
        for _ in range(n):
            cid = rng.choice(sorted(self.clients))
            t = self._now()
            out["new_orders"].append(self._new_order(rng, cid, t, 0))
            if touch:
                self.clients[cid]["updated_at"] = max(self.clients[cid]["updated_at"], t)

    def _sim_status_changes(self, rng: random.Random, n: int, touch: bool, out: dict[str, list[int]]) -> None:
        """Active orders (not those just opened) move to another CRM state."""
        candidates = sorted(o for o in self.orders if self.orders[o]["status"] == 0 and o not in out["new_orders"])
        for oid in rng.sample(candidates, min(n, len(candidates))):
            order = self.orders[oid]
            new_state, new_status = rng.choice([(s, st) for s, st in _STATES if s != order["state_id"]])
            order["state_id"], order["status"] = new_state, new_status
            out["status_changes"].append(oid)
            if touch:
                self._touch_updated(order["client_id"])

    def _sim_variable_changes(self, rng: random.Random, n: int, touch: bool, out: dict[str, list[int]]) -> None:
        for cid in rng.sample(sorted(self.clients), min(n, len(self.clients))):
            value = self._text(rng, rng.choice(["lead", "hot", "cold", "vip"]))
            self.client_vars[cid]["segment"] = value
            out["variable_changes"].append(cid)
            if touch:
                self._touch_updated(cid)

    def _sim_delete_clients(self, rng: random.Random, n: int, out: dict[str, list[int]]) -> None:
        """Clients other than those just arrived are deleted."""
        fresh = set(out["new_clients"])
        doomed = rng.sample(
            [c for c in sorted(self.clients) if c not in fresh],
            min(n, max(0, len(self.clients) - len(fresh))),
        )
        for cid in doomed:
            self._delete_client(cid)
            out["delete_clients"].append(cid)

    def _sim_delete_orders(self, rng: random.Random, n: int, touch: bool, out: dict[str, list[int]]) -> None:
        for oid in rng.sample(sorted(self.orders), min(n, len(self.orders))):
            order = self.orders.pop(oid)
            out["delete_orders"].append(oid)
            if touch:
                self._touch_updated(order["client_id"])

    def _touch_updated(self, cid: int) -> None:
        """A CRM-side change moves the client's ``updated_at`` to now."""
        c = self.clients[cid]
        c["updated_at"] = max(c["updated_at"], self._now())

    def _delete_client(self, cid: int) -> None:
        """The client is gone from every answer, with its messages, orders and variables."""
        del self.clients[cid]
        self.client_vars.pop(cid, None)
        self.messages.pop(cid, None)
        for oid in [o for o, order in self.orders.items() if order["client_id"] == cid]:
            del self.orders[oid]

    def _mutate_one(self) -> None:
        """``mutate_rate``: a client writes while the loader pages."""
        with self.data_lock:
            cid = self._sim_rng.choice(sorted(self.clients))
            msg = self._new_message(self._sim_rng, cid, self._now(), "client")
        self._push([(cid, msg)])

    # ------------------------------------------------------------------ webhook
    def webhook_payload(self, cid: int, msg: dict[str, Any]) -> dict[str, Any]:
        """The documented push ("Как получать сообщения на Webhook URL")."""
        c = self.clients[cid]
        return {
            "id": msg["id"],
            "client": {
                "id": cid,
                "recepient": c["platform_id"],  # sic: the document's spelling
                "client_type": c["client_type"],
                "name": c["name"],
                "avatar": c["avatar"],
                "created_at": c["created_at"],
                "tag": c["tag"],
                "group": c["group"],
            },
            "message": msg["text"],
            "attachments": [],
            "message_id": msg["message_id"],
            "project_id": self.project_id,
            "is_input": 1 if msg["client_replica"] else 0,
            "delivered": 1 if msg["delivered"] else 0,
            "error_message": msg["error_message"],
        }

    def _push(self, created: list[tuple[int, dict[str, Any]]]) -> None:
        url = self.webhook_url
        if not url or not created:
            return
        with self.data_lock:
            payloads = [self.webhook_payload(cid, m) for cid, m in created]
        for payload in payloads:
            record: dict[str, Any] = {"message_id": payload["id"], "client_id": payload["client"]["id"]}
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            request = urllib.request.Request(
                url, data=data, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    record["status"] = resp.status
            except urllib.error.HTTPError as exc:
                record["status"] = exc.code
            except (urllib.error.URLError, OSError) as exc:
                record["status"] = None
                record["error"] = type(exc).__name__
            self.webhook_deliveries.append(record)

    def _admin_webhook_get(self) -> dict:
        return {"webhook_url": self.webhook_url, "deliveries": list(self.webhook_deliveries)}

    def _admin_webhook_set(self, req: Request) -> dict:
        body = self._admin_body(req)
        self.webhook_url = body.get("url") or body.get("webhook_url")
        return self._admin_webhook_get()

"""Deterministic synthetic Leeloo.ai account data.

Everything is derived from ``(seed, scale, anchor)`` and the data modes: the same
arguments give the same ids, names, timestamps and messages. ``scale`` is the number
of people. History spans ~2 years before ``anchor``; nothing generated lies after it.

Memory: people, channels and orders are small ``__slots__`` objects. A
channel's generated messages are *not* stored: each channel keeps only its
message count, its creation time and the time its generated messages end; the
messages are rebuilt on demand from ``(seed, channel index)`` (an LRU cache keeps
the hot ones). Messages added later (``simulate``/``mutate_rate``) are kept per channel.

Indices: people and channels are kept in lists sorted by ``lastMessageTime``
(parallel key/index lists, maintained with bisect on every change), so a
window filter is two bisects; orders are kept sorted by ``createdAt``. The second
reading of ``lastMessageTime`` (moved only by the subscriber's own messages) has
its own pair of indices, built the first time it is asked for.

Deleted people and channels stay in ``people``/``channels`` (their position is their
index) with ``alive = False``; they are gone from the indices and the id maps.
"""
from __future__ import annotations

import bisect
import collections
import copy
import datetime as _dt
import hashlib
import random
import threading
from collections.abc import Callable, Iterable
from typing import Any

from emulators.base import iso_ms, now_ms, parse_iso, to_ms
from emulators.hostile import NOT_NUMBERS, ODD_TEXTS, PAYLOADS

DAY = 86_400_000
HOUR = 3_600_000
MINUTE = 60_000

MESSENGERS = {  # connection type -> channel "from"
    "telegram": "TELEGRAM",
    "facebook": "FACEBOOK",
    "vk": "VKONTAKTE",
    "viber": "VIBER",
    "whatsapp": "WHATSAPP",
    "instagram": "INSTAGRAM",
}
CONNECTION_NAMES = {
    "telegram": "Telegram bot",
    "facebook": "Facebook page",
    "vk": "VK community",
    "viber": "Viber bot",
    "whatsapp": "WhatsApp Business",
    "instagram": "Instagram account",
    "sendGrid": "Sendgrid bot",
}
ORDER_STATUSES = ["OPENED", "ORDER", "PENDING", "RESOLVED", "SUCCESS", "REJECTED", "FAILED", "REFUNDED"]
ORDER_STATUS_WEIGHTS = [10, 8, 8, 14, 30, 10, 12, 8]
SALE_STATUSES = frozenset({"SUCCESS", "RESOLVED"})
CURRENCIES = ["USD", "EUR", "UAH", "RUB"]
CURRENCY_WEIGHTS = [45, 15, 30, 10]
PRICES: dict[str, list[float]] = {
    "USD": [20, 35, 49, 99, 100, 149.99, 200, 490],
    "EUR": [19, 29.9, 49, 89, 150, 300],
    "UAH": [250, 500, 999, 1500, 2500, 4900],
    "RUB": [990, 1490, 2990, 4990, 9900],
}
USD_RATE = {"USD": 1.0, "EUR": 1.08, "UAH": 0.024, "RUB": 0.011}
PAYMENT_METHODS = ["WAYFORPAY", "YANDEX_MONEY", "ASSET_PAYMENT", "MANUAL"]
LGT_TYPES = ["LINK", "QR", "WIDGET", "POPUP", "FORM", "FB_AD", "DEFAULT"]
GENDERS = ["MALE", "FEMALE", "OTHER", "NO_DATA", "NOT_DEFINED"]
GENDER_WEIGHTS = [30, 30, 3, 25, 12]
LOCALES = ["", "ru_RU", "uk_UA", "en_US", "pl_PL"]
MSG_TYPES = ["FRIEND_MESSAGE", "BOT_MESSAGE", "YOUR_MESSAGE", "SYSTEM_MESSAGE"]

FIRST = ["Olena", "Andrii", "Maria", "Ivan", "Sofia", "Dmytro", "Anna", "Oleh", "Kateryna", "Max",
         "Iryna", "Taras", "Yulia", "Serhii", "Natalia", "Artem", "Olga", "Pavlo", "Daria", "Roman",
         "Mark", "Feliks", "Alex", "Nina", "Viktor", "Marta", "Bohdan", "Lesia", "Ярослав", "Марина"]
LAST = ["Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Kravets", "Melnyk", "Boyko", "Moroz",
        "Lysenko", "Savchenko", "Rudenko", "Marchenko", "Petrenko", "Spenser", "Down", "Klymenko",
        "Ткаченко", "Іваненко", "Smith", "Nowak"]
DOMAINS = ["gmail.com", "ukr.net", "hotmail.com", "yahoo.com", "i.ua", "outlook.com"]
USER_NAMES = ["Igor", "Alexey", "Max", "John Mack", "Oksana", "Tetiana", "Vlad", "Andrew", "Inna", "Petro"]
TAG_NAMES = ["vip", "Mentor", "Professional", "new", "hot lead", "cold", "webinar", "paid", "refund",
             "student", "partner", "b2b", "Tag 26", "newsletter", "returning", "ua", "pl", "promo-2024",
             "курс", "консультация", "spam", "support"]
TUNNEL_NAMES = ["Default tunnel", "Webinar funnel", "Course launch", "Free lesson", "Black Friday",
                "Consultation", "Lead magnet", "Retargeting", "Partner program", "Summer sale"]
LGT_NAMES = ["Default leadgentool", "New LGT", "Landing form", "Bio link", "QR flyer", "Site widget",
             "Exit popup", "FB lead ad", "Story link", "Email footer"]
TS_NAMES = ["Default traffic source", "Instagram stories", "Facebook ads", "Google ads", "Blog",
            "YouTube", "Partners", "Offline", "Telegram channel", "TikTok"]
CATEGORY_NAMES = ["Greetings", "Follow-ups", "Payments", "Reminders", "Support answers"]
TEMPLATE_NAMES = ["welcome", "reminder 1h", "reminder 24h", "payment link", "thank you", "reactivation",
                  "feedback request", "webinar link", "discount offer", "support reply"]
OFFERS = ["Course Basic", "Course Pro", "Consultation", "Webinar ticket", "Mentoring 1 month",
          "E-book", "Ручной оффер", "Marathon", "Subscription", "manual offer"]
UTM_SOURCES = ["facebook", "instagram", "google", "telegram", "newsletter", "test_UTM_mark"]
UTM_MEDIUMS = ["cpc", "social", "email", "referral", "stories"]
UTM_CAMPAIGNS = ["spring_sale", "webinar_2024", "launch", "retarget", "black_friday"]
CUSTOM_FIELDS = [
    ("TEXT", "city", lambda r: r.choice(["Kyiv", "Lviv", "Warsaw", "Odesa", "Berlin", "Dnipro"])),
    ("EMAIL", "emailcust", lambda r: f"user{r.randint(1, 99999)}@example.com"),
    ("PHONE", "phone", lambda r: "+48" + "".join(r.choice("0123456789") for _ in range(9))),
    ("DATE", "birthday",
     lambda r: f"{r.randint(1960, 2005)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T00:00:00.000Z"),
    ("NUMBER", "age", lambda r: r.randint(16, 70)),
    ("TEXT", "текстовое выражение", lambda r: r.choice(["hello word", "привіт", "ok"])),
]
FRIEND_TEXTS = ["Hi!", "How much does it cost?", "Добрий день", "Is it still available?", "Thanks!",
                "Can I pay by card?", "When does it start?", "ok", "Send me the link please", "👍",
                "I have a question", "Привет, хочу записаться"]
BOT_TEXTS = ["Good morning, {name}! \n\nTest message content", "Here is your link: https://example.com/l/1",
             "Thank you for subscribing!", "The webinar starts in 1 hour", "Choose an option below",
             "Your order has been created", "Last message"]
YOUR_TEXTS = ["Hello! How can I help you?", "I have sent you the invoice", "Test API v.1 message template",
              "API message", "Sure, one moment", "Pre last message"]
SYSTEM_TEXTS = ["", "Subscribed to tunnel", "Order status changed", "Order created"]


BROADCAST_TEXTS = ["We miss you! Here is 20% off this week", "New course just launched: see the programme",
                   "Free webinar tomorrow at 19:00", "Last chance: the offer ends tonight"]
OPEN_STATUSES = ("OPENED", "ORDER", "PENDING")
PAID_STATUSES = ("SUCCESS", "RESOLVED")
INBOUND_TYPE = "FRIEND_MESSAGE"
SILENT_MS = 30 * DAY  # a broadcast goes to subscribers who have not written for this long
HOSTILE_TAIL = 0.15  # beyond the guaranteed first records, this share of strings is hostile
ODD_EVERY = 29  # beyond the guaranteed first records, every 29th record carries an odd value
STATS_KEYS = ("subscribers", "uniqSubscribers", "orders", "sales", "uniqSales", "visits", "uniqVisits", "shows",
              "uniqShows", "totalSale", "totalExpenses")
EXTRA_FIELDS = {  # fields the documents do not list, served when extra_fields is on
    "people": ["timezone", "leadScore", "isBlocked"],
    "communication_channels": ["unreadCount", "isPinned"],
    "orders": ["discount", "externalId"],
    "chat_messages": ["deliveryStatus", "isForwarded"],
    "tunnels": ["archived", "color"],
}
TIMEZONES = ["Europe/Kyiv", "Europe/Warsaw", "Europe/Berlin", "America/New_York", "Asia/Tbilisi"]
DELETABLE = ("people", "communication_channels", "orders", "tunnels", "leadgentools", "users", "tags",
             "connections", "template_categories", "templates")
# what `deleted` reports: the deletable tables plus what goes with them
DELETED_TABLES = (*DELETABLE, "chat_messages", "traffic_sources")


# --------------------------------------------------------------------------- entities

class Person:
    __slots__ = (
        "alive",
        "channels",
        "contacted_users",
        "created_ms",
        "custom_fields",
        "drift",
        "email",
        "gender",
        "id",
        "idx",
        "lmt_in",
        "lmt_ms",
        "locale",
        "name",
        "orders",
        "phone",
        "profile_image",
        "subscribe_history",
        "tags",
        "updated_ms",
    )
    alive: bool
    channels: list[Channel]
    contacted_users: list[str]
    created_ms: int
    custom_fields: list[dict[str, Any]]
    drift: bool
    email: Any  # text, or an odd shape
    gender: str
    id: str
    idx: int
    lmt_in: int | None  # the inbound reading: None until first asked for
    lmt_ms: int
    locale: str
    name: Any
    orders: list[Order]
    phone: Any
    profile_image: str
    subscribe_history: list[dict[str, Any]]
    tags: list[Any]
    updated_ms: int


class Channel:
    __slots__ = (
        "alive",
        "bot_status",
        "connection_id",
        "connection_status",
        "created_ms",
        "extra",
        "frm",
        "gen_ms",
        "id",
        "idx",
        "lmt_in",
        "lmt_ms",
        "n_gen",
        "name",
        "odd_msg",
        "person",
        "utm",
    )
    alive: bool
    bot_status: str
    connection_id: str
    connection_status: str
    created_ms: int
    extra: list[dict[str, Any]] | None  # messages added after generation
    frm: str
    gen_ms: int  # the generated messages end here
    id: str
    idx: int
    lmt_in: int | None
    lmt_ms: int
    n_gen: int
    name: Any
    odd_msg: bool
    person: Person
    utm: dict[str, Any]


class Order:
    __slots__ = (
        "created_ms",
        "currency",
        "description",
        "drift",
        "history",
        "id",
        "idx",
        "payment_method",
        "person",
        "price",
        "status",
        "title",
        "updated_ms",
    )
    created_ms: int
    currency: str
    description: str
    drift: bool
    history: list[tuple[str, int]] | None  # None: derived from the generated fields
    id: str
    idx: int
    payment_method: str
    person: Person
    price: Any  # a number, or text that is not one
    status: str
    title: Any
    updated_ms: int


class SortedIndex:
    """Entity indices sorted by an integer key (ms); ties keep insertion order."""

    def __init__(self, pairs: Iterable[tuple[int, int]]):
        pairs = sorted(pairs)
        self.keys = [k for k, _ in pairs]
        self.idxs = [i for _, i in pairs]

    def __len__(self) -> int:
        return len(self.keys)

    def window(self, lo_ms: int | None, hi_ms: int | None) -> tuple[int, int]:
        """Positions [lo, hi) of entries with lo_ms <= key <= hi_ms (inclusive)."""
        lo = 0 if lo_ms is None else bisect.bisect_left(self.keys, lo_ms)
        hi = len(self.keys) if hi_ms is None else bisect.bisect_right(self.keys, hi_ms)
        return lo, max(lo, hi)

    def _position(self, idx: int, key: int) -> int:
        i = bisect.bisect_left(self.keys, key)
        while self.idxs[i] != idx:
            i += 1
        return i

    def move(self, idx: int, old_key: int, new_key: int) -> None:
        self.remove(idx, old_key)
        self.add(idx, new_key)

    def remove(self, idx: int, key: int) -> None:
        i = self._position(idx, key)
        del self.keys[i]
        del self.idxs[i]

    def add(self, idx: int, key: int) -> None:
        j = bisect.bisect_right(self.keys, key)
        self.keys.insert(j, key)
        self.idxs.insert(j, idx)


def _wchoice(r: random.Random, items, weights):
    return r.choices(items, weights)[0]


def odd_slot(k: int, n_kinds: int) -> int | None:
    """Which of ``n_kinds`` fields of record ``k`` carries an odd value, or None.

    Records 1..n_kinds carry one kind each (so every kind shows up in any account with a
    few records), then every ODD_EVERY-th record: "a few records per entity"."""
    if 1 <= k <= n_kinds:
        return k - 1
    if k > n_kinds and k % ODD_EVERY == 0:
        return (k // ODD_EVERY) % n_kinds
    return None


def odd_text(k: int) -> Any:
    """A fresh JSON object or list where the documents promise text."""
    return copy.deepcopy(ODD_TEXTS[k % len(ODD_TEXTS)])


def odd_number(k: int) -> str:
    """Text that is not a number where the documents promise one."""
    return NOT_NUMBERS[k % len(NOT_NUMBERS)]


def _hash_int(entity_id: str) -> int:
    return int(entity_id[-6:], 16)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class LeelooData:
    """The whole synthetic account. Not thread-safe by itself: the server
    holds ``EmulatorApp.data_lock`` around every read and mutation.

    Data modes (fixed at construction, kept by ``regenerate``): ``hostile`` puts
    :data:`emulators.hostile.PAYLOADS` into the strings strangers type, ``odd_shapes``
    gives a few records per entity values of the wrong JSON shape, ``extra_fields``
    serves fields the documents do not list."""

    MESSAGE_CACHE_CHANNELS = 20_000

    def __init__(self, seed: int = 1, scale: int = 200, anchor: _dt.datetime | None = None, *,
                 hostile: bool = False, odd_shapes: bool = False, extra_fields: bool = False,
                 clock: Callable[[], int] = now_ms):
        if scale < 1:
            raise ValueError("scale must be >= 1")
        self.seed = int(seed)
        self.scale = int(scale)
        self.hostile = bool(hostile)
        self.odd_shapes = bool(odd_shapes)
        self.extra_fields = bool(extra_fields)
        self.clock = clock  # the API's "now" in epoch ms: what new activity is stamped with
        if anchor is None:
            anchor = _dt.datetime.fromtimestamp(clock() / 1000, _dt.UTC).replace(minute=0, second=0, microsecond=0)
        elif anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=_dt.UTC)
        self.anchor = anchor
        self.anchor_ms = to_ms(anchor)
        self.version = 0  # bumped on every change
        self._msg_cache: collections.OrderedDict[int, list] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self._derived_cache: dict = {}
        # JSON text of list items, keyed (kind, idx[, drift]); dropped when the entity changes
        self.frag_cache: dict[tuple, str] = {}
        self.sim_rng = random.Random(self.seed * 7919 + 17)
        self.hostile_rng = random.Random(self.seed * 104_729 + 3)
        self.deleted: dict[str, list[str]] = {t: [] for t in DELETED_TABLES}
        self.odd_values: list[dict] = []
        self._order_seq = 0
        self._live_people: list[Person] | None = None  # None: every person is alive (no copy)
        self.inbound_built = False
        self.people_index_in: SortedIndex | None = None
        self.channel_index_in: SortedIndex | None = None
        self._generate()

    # ----------------------------------------------------------------- ids
    def oid(self, ts_ms: int, key: str) -> str:
        """24-hex Mongo-like id: 8 hex of the timestamp + 16 hex of a hash of (seed, key)."""
        h = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).hexdigest()
        return f"{(int(ts_ms) // 1000) & 0xFFFFFFFF:08x}{h}"

    # ----------------------------------------------------------------- hostile strings
    def _hostile(self, k: int, normal: Any) -> Any:
        """Record ``k`` of a place: payload k for the first records (every payload shows up
        once), then a random payload for a share of the rest."""
        if k < len(PAYLOADS):
            return PAYLOADS[k]
        if self.hostile_rng.random() < HOSTILE_TAIL:
            return self.hostile_rng.choice(PAYLOADS)
        return normal

    def _hostile_later(self, normal: str) -> str:
        """A string typed after generation (simulate) in hostile mode."""
        if self.hostile and self.hostile_rng.random() < HOSTILE_TAIL:
            return self.hostile_rng.choice(PAYLOADS)
        return normal

    # ----------------------------------------------------------------- generation
    def _generate(self) -> None:
        r = random.Random(self.seed)
        end = self.anchor_ms
        self.start_ms = end - 730 * DAY
        n_payloads = len(PAYLOADS)

        n_users = max(3, self.scale // 500)
        self.users: list[dict[str, Any]] = []
        for i in range(n_users):
            c = end - r.randint(740, 1100) * DAY + r.randint(0, DAY)
            u = c + r.randint(0, end - c)
            name = USER_NAMES[i % len(USER_NAMES)] + ("" if i < len(USER_NAMES) else f" {i}")
            self.users.append({"id": self.oid(c, f"u{i}"), "name": name, "createdAt": iso_ms(c),
                               "updatedAt": iso_ms(u)})
        self.user_by_id = {u["id"]: u for u in self.users}

        n_tags = r.randint(10, 20)
        self.tags: list[dict[str, Any]] = [{"id": self.oid(end - 800 * DAY + i * HOUR, f"tag{i}"), "name": n}
                     for i, n in enumerate(r.sample(TAG_NAMES, n_tags))]
        if self.hostile:
            self.tags += [{"id": self.oid(end - 800 * DAY + (n_tags + k) * HOUR, f"tag{n_tags + k}"), "name": s}
                          for k, s in enumerate(PAYLOADS)]
        tag_names = [t["name"] for t in self.tags]

        others = ["facebook", "vk", "viber", "whatsapp", "instagram", "sendGrid"]
        ctypes = ["telegram", *r.sample(others, r.randint(2, 5))]
        self.connections = [{"id": self.oid(end - 900 * DAY + i * DAY, f"conn{i}"), "type": t,
                             "name": CONNECTION_NAMES[t]} for i, t in enumerate(ctypes)]
        self.messenger_conns = [(MESSENGERS[c["type"]], c["id"]) for c in self.connections if c["type"] in MESSENGERS]

        self.template_categories: list[dict[str, Any]] = []
        self.templates: dict[str, list[dict[str, Any]]] = {}
        for ci in range(r.randint(2, 4)):
            cid = self.oid(end - 850 * DAY + ci * DAY, f"cat{ci}")
            self.template_categories.append({"id": cid, "name": CATEGORY_NAMES[ci]})
            self.templates[cid] = [{"id": self.oid(end - 840 * DAY + ci * DAY + ti * HOUR, f"tpl{ci}:{ti}"),
                                    "message_name": n}
                                   for ti, n in enumerate(r.sample(TEMPLATE_NAMES, r.randint(1, 5)))]
        self.category_by_id = {c["id"]: c for c in self.template_categories}

        n_tunnels = max(3, self.scale // 250)
        n_hostile_tunnels = n_payloads if self.hostile else 0
        self.tunnels: list[dict[str, Any]] = []
        self.lgt_by_id: dict[str, dict[str, Any]] = {}
        for ti in range(n_tunnels + n_hostile_tunnels):
            j = ti - n_tunnels  # >= 0: a tunnel whose strings are payloads
            c = end - r.randint(735, 800) * DAY + r.randint(0, DAY)
            u = c + r.randint(0, end - c)
            name = TUNNEL_NAMES[ti % len(TUNNEL_NAMES)] + ("" if ti < len(TUNNEL_NAMES) else f" #{ti}")
            if j >= 0:
                name = PAYLOADS[j]
            t: dict[str, Any] = {"id": self.oid(c, f"tun{ti}"), "name": name, "createdAt": iso_ms(c),
                                 "updatedAt": iso_ms(u),
                 "lgts": [], "show_ratio": r.uniform(0.5, 3.0), "visit_ratio": r.uniform(0.2, 1.5),
                 "cost_per_visit": round(r.uniform(0.0, 0.8), 2)}
            for li in range(r.randint(2, 5)):
                lname = LGT_NAMES[li] if li else "Default leadgentool"
                if j >= 0:
                    lname = PAYLOADS[(j + li) % n_payloads]
                lgt: dict[str, Any] = {"id": self.oid(c + li * MINUTE, f"lgt{ti}:{li}"), "name": lname,
                       "type": "DEFAULT" if li == 0 else r.choice(LGT_TYPES[:-1]), "tunnel_id": t["id"], "ts": []}
                for si in range(r.randint(1, 3)):
                    sname = TS_NAMES[si] if si else "Default traffic source"
                    if j >= 0:
                        sname = PAYLOADS[(j + li + si) % n_payloads]
                    lgt["ts"].append({"id": self.oid(c + li * MINUTE + si * 1000, f"ts{ti}:{li}:{si}"), "name": sname})
                t["lgts"].append(lgt)
                self.lgt_by_id[lgt["id"]] = lgt
            self.tunnels.append(t)
        self.tunnel_by_id = {t["id"]: t for t in self.tunnels}
        if self.odd_shapes:  # before people, so subscribeHistory carries the same values
            self._odd_tunnels()

        self.people: list[Person] = []
        self.channels: list[Channel] = []
        self.orders: list[Order] = []
        self.person_by_id: dict[str, Person] = {}
        self.channel_by_id: dict[str, Channel] = {}
        self.order_by_id: dict[str, Order] = {}
        for _ in range(self.scale):
            c = end - int(r.random() * 730 * DAY)
            self._new_person(r, c, end, tag_names)
        # orders sorted by createdAt; the list stays sorted (new orders are "now")
        self.orders.sort(key=lambda o: (o.created_ms, o.idx))
        self.people_index = SortedIndex((p.lmt_ms, p.idx) for p in self.people)
        self.channel_index = SortedIndex((c.lmt_ms, c.idx) for c in self.channels)
        self.tag_names = tag_names
        if self.odd_shapes:
            self._odd_records()

    def _new_person(self, r: random.Random, created: int, until: int, tag_names: list[str], *,
                    fresh: bool = False) -> Person:
        """Create a person (and channels, orders) created at ``created``, with
        activity up to ``until``. ``fresh``: a brand-new person (simulate)."""
        p = Person()
        p.idx = len(self.people)
        p.alive = True
        p.lmt_in = None
        first, last = r.choice(FIRST), r.choice(LAST)
        p.name = f"{first} {last}" if r.random() < 0.85 else first
        if self.hostile:
            p.name = self._hostile(p.idx, p.name)
        p.id = self.oid(created, f"p{p.idx}")
        p.email = ("NOT_DEFINED" if r.random() < 0.25
                   else f"{first}.{last}{r.randint(1, 999)}@{r.choice(DOMAINS)}".lower())
        p.phone = "NOT_DEFINED" if r.random() < 0.35 else "+380" + "".join(r.choice("0123456789") for _ in range(9))
        image_dir = self.oid(created, f"img{p.idx}")
        p.profile_image = ("NOT_DEFINED" if r.random() < 0.5 else
                           f"https://static.leeloo.ai/images/{image_dir}/{r.getrandbits(64):016x}.jpg")
        p.gender = _wchoice(r, GENDERS, GENDER_WEIGHTS)
        p.locale = r.choice(LOCALES)
        p.tags = r.sample(tag_names, min(len(tag_names), _wchoice(r, [0, 1, 2, 3], [40, 35, 18, 7])))
        n_users = min(len(self.users), _wchoice(r, [0, 1, 2], [45, 45, 10]))
        p.contacted_users = [u["id"] for u in r.sample(self.users, n_users)]
        p.custom_fields = [{"type": t, "name": n, "value": f(r)}
                           for t, n, f in r.sample(CUSTOM_FIELDS, _wchoice(r, [0, 1, 2, 3], [40, 30, 20, 10]))]
        if self.hostile:
            self._hostile_custom_field(p)
        p.drift = r.random() < 0.10
        p.created_ms = created
        p.channels = []
        p.orders = []
        self.people.append(p)
        self.person_by_id[p.id] = p
        if self._live_people is not None:
            self._live_people.append(p)

        n_ch = min(len(self.messenger_conns), _wchoice(r, [1, 2, 3], [60, 30, 10]))
        for k, (frm, conn_id) in enumerate(r.sample(self.messenger_conns, n_ch)):
            ch = Channel()
            ch.idx = len(self.channels)
            ch.alive = True
            ch.odd_msg = False
            ch.person = p
            ch.created_ms = (created if k == 0
                             else min(until, created + int(r.random() * min(60 * DAY, until - created))))
            ch.id = self.oid(ch.created_ms, f"c{ch.idx}")
            ch.name = p.name if r.random() < 0.8 else r.choice(["TIIIIK", first.lower() + str(r.randint(1, 99)), first])
            ch.frm = frm
            ch.connection_id = conn_id
            ch.connection_status = "OK" if r.random() < 0.95 else "BLOCKED"
            ch.bot_status = "BOT" if r.random() < 0.8 else "ADMIN"
            ch.utm = {}
            if r.random() < 0.30:
                ch.utm["utm_source"] = r.choice(UTM_SOURCES)
                for key, vals in (("utm_medium", UTM_MEDIUMS), ("utm_campaign", UTM_CAMPAIGNS)):
                    if r.random() < 0.6:
                        ch.utm[key] = r.choice(vals)
                if r.random() < 0.2:
                    ch.utm["utm_content"] = f"ad{r.randint(1, 20)}"
                if r.random() < 0.1:
                    ch.utm["utm_term"] = r.choice(["course", "webinar", "бот"])
            if self.hostile:
                self._hostile_utm(ch)
            ch.extra = None
            if fresh:
                ch.n_gen = 0
                ch.lmt_ms = ch.created_ms
                ch.lmt_in = ch.created_ms
            else:
                ch.n_gen = min(25, int(r.expovariate(1 / 8.5)))
                if self.hostile and ch.idx < len(PAYLOADS):
                    ch.n_gen = max(1, ch.n_gen)  # its first message carries payload idx
                span = until - ch.created_ms
                ch.lmt_ms = ch.created_ms if ch.n_gen == 0 else ch.created_ms + int(span * (r.random() ** 0.6))
                ch.lmt_in = None  # computed when the inbound reading is first asked for
            ch.gen_ms = ch.lmt_ms  # generated messages end here whatever is added later
            p.channels.append(ch)
            self.channels.append(ch)
            self.channel_by_id[ch.id] = ch

        p.subscribe_history = []
        for _ in range(_wchoice(r, [1, 2, 3], [65, 25, 10])):
            p.subscribe_history.append(self._subscription(r, p))

        force_order = self.hostile and not fresh and p.idx < len(PAYLOADS)  # order titles need records
        if (not fresh and r.random() < 0.40) or force_order:
            for _ in range(r.randint(1, 3)):
                oc = created + int(r.random() * (until - created))
                self._new_order(r, p, oc, until)
        p.lmt_ms = max(c.lmt_ms for c in p.channels)
        p.updated_ms = max(p.lmt_ms, max((o.updated_ms for o in p.orders), default=0))
        return p

    def _hostile_custom_field(self, p: Person) -> None:
        text_fields = [f for f in p.custom_fields if f["type"] == "TEXT"]
        value = self._hostile(p.idx, None)
        if value is None:
            return
        if text_fields:
            text_fields[0]["value"] = value
        else:
            p.custom_fields.append({"type": "TEXT", "name": "note", "value": value})

    def _hostile_utm(self, ch: Channel) -> None:
        value = self._hostile(ch.idx, None)
        if value is not None and (ch.utm or ch.idx < len(PAYLOADS)):
            key = "utm_source" if not ch.utm else self.hostile_rng.choice(sorted(ch.utm))
            ch.utm[key] = value

    def _subscription(self, r: random.Random, p: Person) -> dict:
        t = r.choice(self.tunnels)
        lgt = r.choice(t["lgts"])
        ts = r.choice(lgt["ts"])
        return {"tunnelName": t["name"], "leadgentoolName": lgt["name"], "trafficSource": ts["name"],
                "tunnelId": t["id"], "leadgentoolId": lgt["id"], "trafficSourceId": ts["id"],
                "accountId": r.choice(p.channels).id}

    def _new_order(self, r: random.Random, p: Person, created: int, until: int, *, fresh: bool = False) -> Order:
        o = Order()
        o.idx = self._order_seq
        self._order_seq += 1
        o.person = p
        o.history = None
        o.id = self.oid(created, f"o{o.idx}")
        o.title = r.choice(OFFERS)
        o.description = f"{o.title}: {r.choice(['access for 1 month', 'full course', 'one session', 'PDF', 'ticket'])}"
        if self.hostile:
            o.title = self._hostile(o.idx, o.title) if not fresh else self._hostile_later(o.title)
        o.currency = _wchoice(r, CURRENCIES, CURRENCY_WEIGHTS)
        o.price = r.choice(PRICES[o.currency])
        o.payment_method = r.choice(PAYMENT_METHODS)
        o.created_ms = created
        if fresh:
            o.status = "OPENED"
            o.updated_ms = created
        else:
            o.status = _wchoice(r, ORDER_STATUSES, ORDER_STATUS_WEIGHTS)
            o.updated_ms = (created if o.status == "OPENED"
                            else created + int(r.random() * min(14 * DAY, until - created)))
        o.drift = r.random() < 0.10
        p.orders.append(o)
        self.orders.append(o)
        self.order_by_id[o.id] = o
        return o

    # ----------------------------------------------------------------- odd shapes
    def _odd(self, table: str, entity_id: str, field: str) -> None:
        self.odd_values.append({"table": table, "id": entity_id, "field": field})

    def _odd_tunnels(self) -> None:
        for k, t in enumerate(self.tunnels):
            slot = odd_slot(k, 2)
            if slot == 0:
                t["name"] = odd_text(k)
                self._odd("tunnels", t["id"], "name")
            elif slot == 1:
                counter = STATS_KEYS[k % len(STATS_KEYS)]
                t["odd_stat"] = (counter, odd_number(k))
                self._odd("tunnel_stats", t["id"], counter)

    def _odd_records(self) -> None:
        """A few records per entity get a JSON object or list where text is promised, or
        text that is not a number where a number is (see ``odd_slot``)."""
        for k, p in enumerate(self.people):
            slot = odd_slot(k, 5)
            if slot is None:
                continue
            v = odd_text(k)
            if slot == 0:
                p.name, field = v, "name"
            elif slot == 1:
                p.phone, field = v, "phone"
            elif slot == 2:
                p.email, field = v, "email"
            elif slot == 3:
                p.tags, field = [*p.tags, v], "tags"
            else:
                field = "custom_fields"
                if p.custom_fields:
                    p.custom_fields[0] = dict(p.custom_fields[0], value=v)
                else:
                    p.custom_fields.append({"type": "TEXT", "name": "note", "value": v})
            self._odd("people", p.id, field)
        with_messages = 0
        for k, ch in enumerate(self.channels):
            slot = odd_slot(k, 2)
            if slot == 0:
                ch.name = odd_text(k)
                self._odd("communication_channels", ch.id, "name")
            elif slot == 1:
                ch.utm = dict(ch.utm, utm_source=odd_text(k))
                self._odd("communication_channels", ch.id, "utmMarks")
            if ch.n_gen:
                with_messages += 1
                ch.odd_msg = odd_slot(with_messages, 1) is not None  # message ids known once generated
        for k, o in enumerate(self.order_by_id.values()):
            slot = odd_slot(k, 2)
            if slot == 0:
                o.title = odd_text(k)
                self._odd("orders", o.id, "title")
            elif slot == 1:
                o.price = odd_number(k)
                self._odd("orders", o.id, "price")
        for table, rows, field in (("users", self.users, "name"), ("tags", self.tags, "name"),
                                   ("templates", [t for ts in self.templates.values() for t in ts], "message_name")):
            for k, row in enumerate(rows):
                if odd_slot(k, 1) is not None:
                    row[field] = odd_text(k)
                    self._odd(table, row["id"], field)

    # ----------------------------------------------------------------- messages
    def _message_plan(self, ch: Channel) -> list[tuple[int, str, str, bool, str | None]]:
        """The channel's generated messages as (ms, type, text, unread, creator), oldest first."""
        n = ch.n_gen
        r = random.Random(self.seed * 1_000_003 + ch.idx)
        gaps = []
        for _ in range(n - 1):
            if r.random() < 0.75:
                gaps.append(r.uniform(2_000, 15 * MINUTE))  # within a conversation
            else:
                gaps.append(r.uniform(HOUR, 12 * DAY))  # a new conversation
        span = ch.gen_ms - ch.created_ms
        total = sum(gaps)
        if total > span:
            factor = span / total if total else 0.0
            gaps = [g * factor for g in gaps]
        times = [ch.gen_ms]
        t = float(ch.gen_ms)
        for g in reversed(gaps):
            t -= g
            times.append(max(ch.created_ms, int(t)))
        times.reverse()
        users = ch.person.contacted_users
        plan = []
        for j, ms in enumerate(times):
            if j == 0:
                typ = "SYSTEM_MESSAGE" if r.random() < 0.4 else "FRIEND_MESSAGE"
            else:
                typ = r.choices(MSG_TYPES, (40, 35, 15, 10))[0]
            if typ == "YOUR_MESSAGE" and not users:
                typ = "BOT_MESSAGE"
            text = r.choice({"FRIEND_MESSAGE": FRIEND_TEXTS, "BOT_MESSAGE": BOT_TEXTS,
                             "YOUR_MESSAGE": YOUR_TEXTS, "SYSTEM_MESSAGE": SYSTEM_TEXTS}[typ])
            unread = typ == "FRIEND_MESSAGE" and j >= n - 2 and r.random() < 0.3
            plan.append((ms, typ, text, unread, r.choice(users) if typ == "YOUR_MESSAGE" else None))
        return plan

    def _generated_messages(self, ch: Channel) -> list[dict]:
        """The channel's seed-generated messages, oldest first (served shape)."""
        if ch.n_gen == 0:
            return []
        with self._cache_lock:
            cached = self._msg_cache.get(ch.idx)
            if cached is not None:
                self._msg_cache.move_to_end(ch.idx)
                return cached
        plan = self._message_plan(ch)
        hr = random.Random(self.seed * 7_368_787 + ch.idx) if self.hostile else None
        odd_j = len(plan) // 2 if ch.odd_msg else -1
        out = []
        for j, (ms, typ, text, unread, creator) in enumerate(plan):
            value: Any = text
            if hr is not None:
                if j == 0 and ch.idx < len(PAYLOADS):
                    value = PAYLOADS[ch.idx]
                elif hr.random() < HOSTILE_TAIL:
                    value = hr.choice(PAYLOADS)
            if j == odd_j:
                value = odd_text(ch.idx)
            m: dict[str, Any] = {"id": self.oid(ms, f"m{ch.idx}:{j}"), "text": value, "type": typ, "read": not unread,
                 "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)}
            if creator is not None:
                m["links"] = {"createdBy": {"type": "users", "id": creator}}
            if self.extra_fields:
                m.update(self.message_extras(m["id"]))
            out.append(m)
        with self._cache_lock:
            self._msg_cache[ch.idx] = out
            if len(self._msg_cache) > self.MESSAGE_CACHE_CHANNELS:
                self._msg_cache.popitem(last=False)
        return out

    def messages(self, ch: Channel) -> list[dict]:
        """All messages of a channel, oldest first (do not mutate the dicts)."""
        gen = self._generated_messages(ch)
        return gen + ch.extra if ch.extra else gen

    def message_count(self, ch: Channel) -> int:
        return ch.n_gen + (len(ch.extra) if ch.extra else 0)

    # ----------------------------------------------------------------- the inbound reading
    def channel_inbound_ms(self, ch: Channel) -> int:
        """When the subscriber last wrote on ``ch`` (its ``createdAt`` if never)."""
        if ch.lmt_in is None:
            last = ch.created_ms
            if ch.n_gen:
                last = max([last] + [p[0] for p in self._message_plan(ch) if p[1] == INBOUND_TYPE])
            for m in ch.extra or ():
                if m["type"] == INBOUND_TYPE:
                    last = max(last, parse_iso(m["createdAt"]))
            ch.lmt_in = last
        return ch.lmt_in

    def build_inbound(self) -> None:
        """Indices over the inbound reading, built on first use and kept up to date after."""
        if self.inbound_built:
            return
        for ch in self.channels:
            if ch.alive:
                self.channel_inbound_ms(ch)
        for p in self.live_people():
            p.lmt_in = max(self.channel_lmt(c, True) for c in p.channels)
        self.channel_index_in = SortedIndex((self.channel_lmt(c, True), c.idx) for c in self.channels if c.alive)
        self.people_index_in = SortedIndex((self.person_lmt(p, True), p.idx) for p in self.live_people())
        self.inbound_built = True

    @staticmethod
    def person_lmt(p: Person, inbound: bool) -> int:
        if inbound:
            assert p.lmt_in is not None, "build_inbound() first"
            return p.lmt_in
        return p.lmt_ms

    @staticmethod
    def channel_lmt(c: Channel, inbound: bool) -> int:
        if inbound:
            assert c.lmt_in is not None, "build_inbound() first"
            return c.lmt_in
        return c.lmt_ms

    # ----------------------------------------------------------------- live entities
    def live_people(self) -> list[Person]:
        """People not deleted, in generation order (the full list itself while none is)."""
        return self.people if self._live_people is None else self._live_people

    def live_channels(self) -> list[Channel]:
        return [c for c in self.channels if c.alive]

    def live_contacted(self, p: Person) -> list[str]:
        return [u for u in p.contacted_users if u in self.user_by_id]

    # ----------------------------------------------------------------- extra fields
    @staticmethod
    def person_extras(p: Person) -> dict:
        h = _hash_int(p.id)
        return {"timezone": TIMEZONES[h % len(TIMEZONES)], "leadScore": h % 101, "isBlocked": h % 17 == 0}

    @staticmethod
    def channel_extras(c: Channel) -> dict:
        h = _hash_int(c.id)
        return {"unreadCount": h % 7, "isPinned": h % 11 == 0}

    @staticmethod
    def order_extras(o: Order) -> dict:
        h = _hash_int(o.id)
        return {"discount": round((h % 30) / 100, 2), "externalId": f"ext-{h:06x}"}

    @staticmethod
    def message_extras(message_id: str) -> dict:
        h = _hash_int(message_id)
        return {"deliveryStatus": ("SENT", "DELIVERED", "READ")[h % 3], "isForwarded": h % 13 == 0}

    @staticmethod
    def tunnel_extras(t: dict) -> dict:
        h = _hash_int(t["id"])
        return {"archived": h % 5 == 0, "color": f"#{h:06x}"}

    # ----------------------------------------------------------------- served shapes
    def accounts_of(self, p: Person) -> list[dict]:
        return [{"account_id": c.id, "connection_id": c.connection_id, "connection_status": c.connection_status,
                 "from": c.frm} for c in p.channels]

    def person_list_item(self, p: Person, inbound: bool = False) -> dict:
        d = {"id": p.id, "name": p.name, "email": p.email, "phone": p.phone, "tags": list(p.tags),
             "accounts": self.accounts_of(p), "lastMessageTime": iso_ms(self.person_lmt(p, inbound))}
        if self.extra_fields:
            d.update(self.person_extras(p))
        return d

    def order_price(self, o: Order, drift: bool):
        if drift and o.drift:
            return f"{o.price:.2f}" if isinstance(o.price, float) else str(o.price)
        return o.price

    def included_order(self, o: Order, drift: bool) -> dict:
        return {"id": o.id, "title": o.title, "price": self.order_price(o, drift), "currency": o.currency,
                "status": o.status, "updatedAt": iso_ms(o.updated_ms)}

    def person_detail(self, p: Person, *, drift: bool = False) -> dict:
        cf: Any
        if drift and p.drift:
            cf = {f["name"]: f["value"] for f in p.custom_fields}
        else:
            cf = [dict(f) for f in p.custom_fields]
        d = {
            "id": p.id, "name": p.name, "tags": list(p.tags), "profileImage": p.profile_image,
            "gender": p.gender, "phone": p.phone, "email": p.email, "locale": p.locale,
            "accounts": self.accounts_of(p),
            "subscribeHistory": [dict(s) for s in p.subscribe_history],
            "links": {"contactedUsers": [{"type": "users", "id": u} for u in self.live_contacted(p)],
                      "orders": [{"type": "orders", "id": o.id} for o in p.orders]},
            "custom_fields": cf,
            "created_at": iso_ms(p.created_ms), "updated_at": iso_ms(p.updated_ms),
        }
        if self.extra_fields:
            d.update(self.person_extras(p))
        return d

    def included_for(self, p: Person, include: set[str], *, drift: bool = False, v1: bool = False) -> dict:
        inc: dict = {}
        if "contactedUsers" in include:
            inc["users"] = [dict(self.user_by_id[u]) for u in self.live_contacted(p)]
        if "orders" in include:
            if v1:
                inc["orders"] = [{"id": o.id, "price": self.order_price(o, drift), "currency": o.currency,
                                  "paymentMethod": o.payment_method, "status": o.status,
                                  "updatedAt": iso_ms(o.updated_ms)} for o in p.orders]
            else:
                inc["orders"] = [self.included_order(o, drift) for o in p.orders]
        return inc

    def channel_item(self, c: Channel, inbound: bool = False) -> dict:
        d = {"id": c.id, "person_id": c.person.id, "name": c.name, "from": c.frm, "botStatus": c.bot_status,
             "lastMessageTime": iso_ms(self.channel_lmt(c, inbound)), "createdAt": iso_ms(c.created_ms),
             "utmMarks": dict(c.utm)}
        if self.extra_fields:
            d.update(self.channel_extras(c))
        return d

    def v1_account_item(self, c: Channel, inbound: bool = False) -> dict:
        d = {"id": c.id, "name": c.name, "tags": list(c.person.tags), "from": c.frm, "botStatus": c.bot_status,
             "lastMessageTime": iso_ms(self.channel_lmt(c, inbound)), "createdAt": iso_ms(c.created_ms)}
        if self.extra_fields:
            d.update(self.channel_extras(c))
        return d

    def v1_account_detail(self, c: Channel) -> dict:
        p = c.person
        return {
            "id": c.id, "name": c.name, "tags": list(p.tags), "from": c.frm, "botStatus": c.bot_status,
            "gender": p.gender, "phone": p.phone, "email": p.email, "locale": p.locale,
            "subscribeHistory": [{"tunnelName": s["tunnelName"], "leadgentoolName": s["leadgentoolName"],
                                  "trafficSource": s["trafficSource"]} for s in p.subscribe_history],
            "links": {"contactedUsers": [{"type": "users", "id": u} for u in self.live_contacted(p)],
                      "orders": [{"type": "orders", "id": o.id} for o in p.orders]},
            "custom_fields": {f["name"]: f["value"] for f in p.custom_fields},
            "createdAt": iso_ms(c.created_ms), "updatedAt": iso_ms(max(c.lmt_ms, p.updated_ms)),
        }

    def order_item(self, o: Order, drift: bool = False) -> dict:
        d = {"id": o.id, "person_id": o.person.id, "title": o.title, "price": self.order_price(o, drift),
             "currency": o.currency, "status": o.status, "createdAt": iso_ms(o.created_ms),
             "updatedAt": iso_ms(o.updated_ms)}
        if self.extra_fields:
            d.update(self.order_extras(o))
        return d

    def order_detail(self, o: Order, drift: bool = False) -> dict:
        d = {"id": o.id, "createdAt": iso_ms(o.created_ms), "updatedAt": iso_ms(o.updated_ms), "title": o.title,
             "description": o.description, "price": self.order_price(o, drift), "currency": o.currency,
             "status": o.status, "paymentMethod": o.payment_method}
        if self.extra_fields:
            d.update(self.order_extras(o))
        return d

    def tunnel_item(self, t: dict) -> dict:
        d = {"id": t["id"], "name": t["name"], "createdAt": t["createdAt"], "updatedAt": t["updatedAt"]}
        if self.extra_fields:
            d.update(self.tunnel_extras(t))
        return d

    @staticmethod
    def lgt_item(lgt: dict) -> dict:
        return {"id": lgt["id"], "name": lgt["name"], "type": lgt["type"]}

    # ----------------------------------------------------------------- tunnel stats
    def tunnel_stats(self) -> tuple[dict[str, dict], dict]:
        """Per-tunnel stats (by tunnel id) and the all-tunnels totals, as of now.
        subscribers = subscribeHistory entries to the tunnel; uniqSubscribers =
        distinct people; orders/sales = orders (sales: SUCCESS or RESOLVED) of
        the people subscribed to it; totalSale = sales in USD. shows/visits add
        a per-tunnel multiple of the subscribers (never fewer). Deleted people and
        subscriptions to deleted tunnels no longer count; a price that is not a
        number adds nothing to totalSale."""
        key = ("stats", self.version)
        hit = self._derived_cache.get("stats")
        if hit and hit[0] == key:
            return hit[1]
        acc: dict[str, dict[str, Any]] = {
            t["id"]: {"subs": 0, "people": 0, "orders": 0, "sales": 0, "usales": 0, "usd": 0.0} for t in self.tunnels}
        all_people = all_orders = all_sales = all_usales = 0
        all_usd = 0.0
        for p in self.live_people():
            tids = set()
            for s in p.subscribe_history:
                a = acc.get(s["tunnelId"])
                if a is not None:
                    a["subs"] += 1
                    tids.add(s["tunnelId"])
            n_orders = len(p.orders)
            sales = [o for o in p.orders if o.status in SALE_STATUSES]
            usd = sum(o.price * USD_RATE[o.currency] for o in sales if _is_number(o.price))
            for tid in tids:
                a = acc[tid]
                a["people"] += 1
                a["orders"] += n_orders
                a["sales"] += len(sales)
                a["usales"] += 1 if sales else 0
                a["usd"] += usd
            if tids:
                all_people += 1
                all_orders += n_orders
                all_sales += len(sales)
                all_usales += 1 if sales else 0
                all_usd += usd
        per: dict[str, dict[str, Any]] = {}
        tot: dict[str, Any] = dict.fromkeys(STATS_KEYS, 0)
        extra_us = extra_uv = 0
        for t in self.tunnels:
            a = acc[t["id"]]
            show_extra = round(a["subs"] * t["show_ratio"])
            shows = a["subs"] + show_extra
            visit_extra = round(shows * t["visit_ratio"])
            visits = shows + visit_extra
            uniq_shows = a["people"] + int(show_extra * 0.7)
            uniq_visits = uniq_shows + int(visit_extra * 0.7)
            expenses = round(visits * t["cost_per_visit"], 2)
            per[t["id"]] = {"subscribers": a["subs"], "uniqSubscribers": a["people"], "orders": a["orders"],
                            "sales": a["sales"], "uniqSales": a["usales"], "visits": visits, "uniqVisits": uniq_visits,
                            "shows": shows, "uniqShows": uniq_shows, "totalSale": round(a["usd"], 2),
                            "totalExpenses": expenses}
            tot["subscribers"] += a["subs"]
            tot["visits"] += visits
            tot["shows"] += shows
            tot["totalExpenses"] += expenses
            extra_us += int(show_extra * 0.7)
            extra_uv += int(visit_extra * 0.7)
            if "odd_stat" in t:
                counter, text = t["odd_stat"]
                per[t["id"]][counter] = text
        tot.update(uniqSubscribers=all_people, orders=all_orders, sales=all_sales, uniqSales=all_usales,
                   totalSale=round(all_usd, 2), totalExpenses=round(tot["totalExpenses"], 2))
        tot["uniqShows"] = all_people + extra_us
        tot["uniqVisits"] = tot["uniqShows"] + extra_uv
        result = (per, tot)
        self._derived_cache["stats"] = (key, result)
        return result

    # ----------------------------------------------------------------- mutations (hold the data lock)
    def invalidate(self, *entities: Any) -> None:
        """Forget cached list-item JSON of changed people/channels/orders."""
        fc = self.frag_cache
        for e in entities:
            if isinstance(e, Person):
                fc.pop(("person", e.idx), None)
                fc.pop(("person_in", e.idx), None)
                for c in e.channels:
                    self.invalidate(c)
            elif isinstance(e, Channel):
                for kind in ("channel", "v1account", "channel_in", "v1account_in"):
                    fc.pop((kind, e.idx), None)
            elif isinstance(e, Order):
                fc.pop(("order", e.idx, False), None)
                fc.pop(("order", e.idx, True), None)

    def _move_person(self, p: Person) -> None:
        """Re-key ``p`` in the indices after its channels' times changed."""
        new_p = max(c.lmt_ms for c in p.channels)
        if new_p != p.lmt_ms:
            self.people_index.move(p.idx, p.lmt_ms, new_p)
            p.lmt_ms = new_p
        if self.inbound_built:
            assert self.people_index_in is not None
            new_in = max(self.channel_lmt(c, True) for c in p.channels)
            old_in = self.person_lmt(p, True)
            if new_in != old_in:
                self.people_index_in.move(p.idx, old_in, new_in)
                p.lmt_in = new_in

    def _touch_channel(self, ch: Channel, new_msgs: list[dict], last_ms: int) -> None:
        """Append messages to ``ch``: the any-type time moves to ``last_ms``; the inbound
        time only with a FRIEND_MESSAGE."""
        self.invalidate(ch.person)
        if ch.extra is None:
            ch.extra = []
        ch.extra.extend(new_msgs)
        if last_ms != ch.lmt_ms:
            self.channel_index.move(ch.idx, ch.lmt_ms, last_ms)
            ch.lmt_ms = last_ms
        inbound = [parse_iso(m["createdAt"]) for m in new_msgs if m["type"] == INBOUND_TYPE]
        if inbound and ch.lmt_in is not None and max(inbound) > ch.lmt_in:
            if self.channel_index_in is not None:
                self.channel_index_in.move(ch.idx, ch.lmt_in, max(inbound))
            ch.lmt_in = max(inbound)
        p = ch.person
        self._move_person(p)
        p.updated_ms = max(p.updated_ms, last_ms)

    def _message(self, ch: Channel, ms: int, seq: int, typ: str, text: str, *, creator: str | None = None) -> dict:
        m: dict[str, Any] = {"id": self.oid(ms, f"x{ch.idx}:{seq}"), "text": self._hostile_later(text), "type": typ,
             "read": typ != INBOUND_TYPE, "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)}
        if creator is not None:
            m["links"] = {"createdBy": {"type": "users", "id": creator}}
        if self.extra_fields:
            m.update(self.message_extras(m["id"]))
        return m

    def person_writes(self, p: Person, r: random.Random, *, n_msgs: int = 1, at_ms: int | None = None) -> dict:
        """``p`` writes now on one of their channels: a FRIEND_MESSAGE, then
        (n_msgs-1) BOT/YOUR replies, the last one stamped ``at_ms`` (default now)."""
        now = self.clock() if at_ms is None else at_ms
        ch = r.choice(p.channels)
        if now <= ch.lmt_ms:  # keep timestamps increasing within the channel
            now = ch.lmt_ms + n_msgs
        msgs = []
        base = len(ch.extra) if ch.extra else 0
        users = self.live_contacted(p)
        for j in range(n_msgs):
            ms = now - (n_msgs - 1 - j)
            if j == 0:
                typ = "FRIEND_MESSAGE"
            else:
                typ = "YOUR_MESSAGE" if users and r.random() < 0.4 else "BOT_MESSAGE"
            texts = {"FRIEND_MESSAGE": FRIEND_TEXTS, "BOT_MESSAGE": BOT_TEXTS, "YOUR_MESSAGE": YOUR_TEXTS}[typ]
            text = r.choice(texts)
            creator = r.choice(users) if typ == "YOUR_MESSAGE" else None
            msgs.append(self._message(ch, ms, base + j, typ, text, creator=creator))
        self._touch_channel(ch, msgs, now)
        self.version += 1
        return {"person_id": p.id, "account_id": ch.id, "message_ids": [m["id"] for m in msgs],
                "lastMessageTime": iso_ms(now)}

    def send_outbound(self, ch: Channel, r: random.Random, *, broadcast: bool) -> list[dict]:
        """Messages to ``ch``'s subscriber now, none from them: a broadcast (one
        BOT_MESSAGE) or a reply (1-2 YOUR_MESSAGE from a contacted user, or BOT_MESSAGE)."""
        n_msgs = 1 if broadcast else r.randint(1, 2)
        now = max(self.clock(), ch.lmt_ms + n_msgs)
        users = self.live_contacted(ch.person)
        base = len(ch.extra) if ch.extra else 0
        msgs = []
        for j in range(n_msgs):
            ms = now - (n_msgs - 1 - j)
            if broadcast:
                msgs.append(self._message(ch, ms, base + j, "BOT_MESSAGE", r.choice(BROADCAST_TEXTS)))
            elif users and r.random() < 0.6:
                msgs.append(self._message(ch, ms, base + j, "YOUR_MESSAGE", r.choice(YOUR_TEXTS),
                                          creator=r.choice(users)))
            else:
                msgs.append(self._message(ch, ms, base + j, "BOT_MESSAGE", r.choice(BOT_TEXTS)))
        self._touch_channel(ch, msgs, now)
        self.version += 1
        return msgs

    def reply_targets(self, r: random.Random, n: int) -> list[Channel]:
        """``n`` distinct channels: half among the 10% most recently active (a manager
        answers who wrote lately), half among all."""
        live = self.live_channels()
        n = min(n, len(live))
        idxs = self.channel_index.idxs
        recent = [self.channels[i] for i in idxs[len(idxs) - max(1, len(idxs) // 10):]]
        picked: dict[int, Channel] = {}
        for c in r.sample(recent, min(len(recent), n - n // 2)):
            picked[c.idx] = c
        rest = [c for c in live if c.idx not in picked]
        for c in r.sample(rest, n - len(picked)):
            picked[c.idx] = c
        return list(picked.values())

    def silent_channels(self, r: random.Random, n: int) -> list[Channel]:
        """Up to ``n`` channels whose subscriber has not written for SILENT_MS (or never)."""
        cutoff = self.clock() - SILENT_MS
        live = self.live_channels()
        out = []
        for c in r.sample(live, len(live)):
            if self.channel_inbound_ms(c) < cutoff:
                out.append(c)
                if len(out) == n:
                    break
        return out

    def crm_edit(self, p: Person, r: random.Random) -> None:
        """Tags, a custom field and the e-mail change in the CRM; no message, so
        lastMessageTime stays; the detail's updated_at moves."""
        names = [t["name"] for t in self.tags if isinstance(t["name"], str)]
        before = list(p.tags)
        tags = list(before)
        removed = tags.pop(r.randrange(len(tags))) if tags and r.random() < 0.5 else None
        addable = [n for n in names if n not in before]
        if addable and (removed is None or r.random() < 0.7):
            tags.append(r.choice(addable))
        elif removed is None and tags:  # nothing to add: take one away instead
            tags.pop()
        p.tags = tags
        fields = {n: (t, f) for t, n, f in CUSTOM_FIELDS}
        cfs = [dict(f) for f in p.custom_fields]
        unused = [n for n in fields if n not in {f["name"] for f in cfs}]
        if cfs and (not unused or r.random() < 0.6):
            f = r.choice(cfs)
            gen = fields[f["name"]][1] if f["name"] in fields else (lambda rr: f"edited {rr.randint(1, 10**6)}")
            old = f["value"]
            while f["value"] == old:
                f["value"] = gen(r)
        else:
            name = r.choice(unused)
            cfs.append({"type": fields[name][0], "name": name, "value": fields[name][1](r)})
        p.custom_fields = cfs
        old_email = p.email
        while p.email == old_email:
            p.email = f"{r.choice(FIRST)}.{r.choice(LAST)}{r.randint(1, 9999)}@{r.choice(DOMAINS)}".lower()
        p.updated_ms = max(self.clock(), p.updated_ms)
        self.invalidate(p)
        self.version += 1

    def add_person_now(self, r: random.Random) -> Person:
        now = self.clock()
        p = self._new_person(r, now, now, self.tag_names, fresh=True)
        for ch in p.channels:
            self.channel_index.add(ch.idx, ch.lmt_ms)
            if self.channel_index_in is not None:
                self.channel_index_in.add(ch.idx, self.channel_lmt(ch, True))
        self.people_index.add(p.idx, p.lmt_ms)
        if self.people_index_in is not None:
            p.lmt_in = max(self.channel_lmt(c, True) for c in p.channels)
            self.people_index_in.add(p.idx, p.lmt_in)
        # an opening exchange on the first channel: subscription, then the client writes
        ch = p.channels[0]
        msgs = []
        for j, typ in enumerate(("SYSTEM_MESSAGE", "BOT_MESSAGE", "FRIEND_MESSAGE")):
            ms = now - (2 - j)
            texts = {"SYSTEM_MESSAGE": SYSTEM_TEXTS, "BOT_MESSAGE": BOT_TEXTS, "FRIEND_MESSAGE": FRIEND_TEXTS}[typ]
            m: dict[str, Any] = {"id": self.oid(ms, f"x{ch.idx}:{j}"), "text": self._hostile_later(r.choice(texts)),
                                 "type": typ,
                 "read": typ != "FRIEND_MESSAGE", "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)}
            if self.extra_fields:
                m.update(self.message_extras(m["id"]))
            msgs.append(m)
        self._touch_channel(ch, msgs, max(now, ch.lmt_ms))
        self.version += 1
        return p

    def add_order_now(self, r: random.Random, p: Person) -> Order:
        now = self.clock()
        if self.orders and self.orders[-1].created_ms > now:  # keep the createdAt order
            now = self.orders[-1].created_ms
        o = self._new_order(r, p, now, now, fresh=True)
        p.updated_ms = max(p.updated_ms, now)
        self.version += 1
        return o

    def order_history(self, o: Order) -> list[tuple[str, int]]:
        """(status, ms) from creation on. A generated order was OPENED at createdAt and
        took its status at updatedAt (or was created in it when both are equal)."""
        if o.history is not None:
            return o.history
        if o.status == "OPENED" or o.updated_ms == o.created_ms:
            return [(o.status, o.created_ms)]
        return [("OPENED", o.created_ms), (o.status, o.updated_ms)]

    def set_order_status(self, o: Order, status: str) -> None:
        now = self.clock()
        o.history = [*self.order_history(o)]
        o.status = status
        self.invalidate(o)
        o.updated_ms = max(now, o.updated_ms)
        o.history.append((status, o.updated_ms))
        o.person.updated_ms = max(o.person.updated_ms, o.updated_ms)
        self.version += 1

    def change_order_status(self, r: random.Random, o: Order) -> str:
        self.set_order_status(o, r.choice([s for s in ORDER_STATUSES if s not in {o.status, "OPENED"}]))
        return o.status

    def pay_order(self, r: random.Random, o: Order) -> str:
        self.set_order_status(o, _wchoice(r, PAID_STATUSES, [70, 30]))
        return o.status

    def add_subscription(self, r: random.Random, p: Person) -> dict:
        s = self._subscription(r, p)
        p.subscribe_history.append(s)
        self.version += 1
        return s

    # ----------------------------------------------------------------- deletions (hold the data lock)
    def _gone(self, table: str, ids: Iterable[str], out: dict[str, list[str]]) -> None:
        ids = list(ids)
        out[table].extend(ids)
        self.deleted[table].extend(ids)

    def _drop_channel(self, ch: Channel, out: dict[str, list[str]]) -> None:
        self._gone("chat_messages", (m["id"] for m in self.messages(ch)), out)
        self._gone("communication_channels", [ch.id], out)
        self.invalidate(ch)
        self.channel_index.remove(ch.idx, ch.lmt_ms)
        if self.channel_index_in is not None:
            self.channel_index_in.remove(ch.idx, self.channel_lmt(ch, True))
        ch.alive = False
        del self.channel_by_id[ch.id]
        with self._cache_lock:
            self._msg_cache.pop(ch.idx, None)

    def delete_person(self, p: Person, out: dict[str, list[str]]) -> None:
        """The person, their channels and those channels' messages; orders stay listed."""
        self.invalidate(p)
        for ch in p.channels:
            self._drop_channel(ch, out)
        self._gone("people", [p.id], out)
        self.people_index.remove(p.idx, p.lmt_ms)
        if self.people_index_in is not None:
            self.people_index_in.remove(p.idx, self.person_lmt(p, True))
        p.alive = False
        del self.person_by_id[p.id]
        self._live_people = [x for x in self.people if x.alive]

    def delete_channel(self, ch: Channel, out: dict[str, list[str]]) -> None:
        """One channel of a person who keeps another, and its messages."""
        p = ch.person
        self.invalidate(p)
        self._drop_channel(ch, out)
        p.channels.remove(ch)
        self._move_person(p)

    def delete_order(self, o: Order, out: dict[str, list[str]]) -> None:
        self.invalidate(o)
        self.orders.remove(o)
        del self.order_by_id[o.id]
        if o in o.person.orders:
            o.person.orders.remove(o)
        self._gone("orders", [o.id], out)

    def delete_tunnel(self, t: dict, out: dict[str, list[str]]) -> None:
        """The tunnel with its leadgentools and their traffic sources; subscribeHistory
        entries stay (they are history) but count no more in the stats."""
        self.tunnels.remove(t)
        del self.tunnel_by_id[t["id"]]
        for lgt in t["lgts"]:
            self.lgt_by_id.pop(lgt["id"], None)
            self._gone("leadgentools", [lgt["id"]], out)
            self._gone("traffic_sources", (s["id"] for s in lgt["ts"]), out)
        self._gone("tunnels", [t["id"]], out)

    def delete_leadgentool(self, lgt: dict, out: dict[str, list[str]]) -> None:
        self.tunnel_by_id[lgt["tunnel_id"]]["lgts"].remove(lgt)
        del self.lgt_by_id[lgt["id"]]
        self._gone("leadgentools", [lgt["id"]], out)
        self._gone("traffic_sources", (s["id"] for s in lgt["ts"]), out)

    def delete_user(self, u: dict, out: dict[str, list[str]]) -> None:
        """Gone from the users list and from people's contacted users; messages keep
        their ``links.createdBy`` (they are history)."""
        self.users.remove(u)
        del self.user_by_id[u["id"]]
        self._gone("users", [u["id"]], out)

    def delete_tag(self, t: dict, out: dict[str, list[str]], untagged: list[str]) -> None:
        """Gone from the tags list and from every person's tags (no message, updated_at stays)."""
        self.tags.remove(t)
        if t["name"] in self.tag_names:
            self.tag_names.remove(t["name"])
        for p in self.live_people():
            if any(x == t["name"] for x in p.tags):
                p.tags = [x for x in p.tags if x != t["name"]]
                self.invalidate(p)
                untagged.append(p.id)
        self._gone("tags", [t["id"]], out)

    def delete_connection(self, c: dict, out: dict[str, list[str]]) -> None:
        """Gone from the list; channels keep their ``connection_id`` (no new channel uses it)."""
        self.connections.remove(c)
        self.messenger_conns = [mc for mc in self.messenger_conns if mc[1] != c["id"]]
        self._gone("connections", [c["id"]], out)

    def delete_template_category(self, c: dict, out: dict[str, list[str]]) -> None:
        self.template_categories.remove(c)
        del self.category_by_id[c["id"]]
        self._gone("templates", (t["id"] for t in self.templates.pop(c["id"])), out)
        self._gone("template_categories", [c["id"]], out)

    def delete_template(self, cid: str, t: dict, out: dict[str, list[str]]) -> None:
        self.templates[cid].remove(t)
        self._gone("templates", [t["id"]], out)

    def delete(self, r: random.Random, counts: dict[str, int]) -> tuple[dict[str, list[str]], list[str]]:
        """Delete ``counts[table]`` random entities per table (fewer when the account
        cannot spare them: a person keeps one channel, a tunnel one leadgentool, the
        account one tunnel and one messenger connection). Returns ({table: ids}, ids of
        people who lost a deleted tag)."""
        out: dict[str, list[str]] = {t: [] for t in DELETED_TABLES}
        untagged: list[str] = []

        def pick(cands: list, n: int) -> list:
            return r.sample(cands, min(int(n), len(cands)))

        for table in DELETABLE:
            n = counts.get(table, 0)
            if not n:
                continue
            if table == "people":
                for p in pick(self.live_people(), n):
                    self.delete_person(p, out)
            elif table == "communication_channels":
                for ch in [c for c in pick(self.live_channels(), len(self.channels)) if len(c.person.channels) > 1]:
                    if n and len(ch.person.channels) > 1:
                        self.delete_channel(ch, out)
                        n -= 1
            elif table == "orders":
                for o in pick(self.orders, n):
                    self.delete_order(o, out)
            elif table == "tunnels":
                for t in pick(self.tunnels, min(n, len(self.tunnels) - 1)):
                    self.delete_tunnel(t, out)
            elif table == "leadgentools":
                lgts = [lgt for t in self.tunnels for lgt in t["lgts"]]
                for lgt in pick(lgts, len(lgts)):
                    if n and len(self.tunnel_by_id[lgt["tunnel_id"]]["lgts"]) > 1:
                        self.delete_leadgentool(lgt, out)
                        n -= 1
            elif table == "users":
                for u in pick(self.users, n):
                    self.delete_user(u, out)
            elif table == "tags":
                for t in pick(self.tags, n):
                    self.delete_tag(t, out, untagged)
            elif table == "connections":
                for c in pick(self.connections, len(self.connections)):
                    if n and (c["type"] not in MESSENGERS or len(self.messenger_conns) > 1):
                        self.delete_connection(c, out)
                        n -= 1
            elif table == "template_categories":
                for c in pick(self.template_categories, n):
                    self.delete_template_category(c, out)
            elif table == "templates":
                for cid, t in pick([(cid, t) for cid, ts in self.templates.items() for t in ts], n):
                    self.delete_template(cid, t, out)
        self.version += 1
        return out, sorted(set(untagged))

    # ----------------------------------------------------------------- truth
    def truth(self, *, inbound: bool = False) -> dict:
        """The account as the API serves it now (canonical shapes, no drift), read the
        way ``inbound`` says lastMessageTime moves."""
        if inbound:
            self.build_inbound()
        per, _tot = self.tunnel_stats()
        gone = {i for ids in self.deleted.values() for i in ids}
        people = []
        for p in self.live_people():
            d = self.person_detail(p)
            d["lastMessageTime"] = iso_ms(self.person_lmt(p, inbound))
            people.append(d)
        msgs = []
        odd_messages = []
        channels = self.live_channels()
        for c in channels:
            for m in self.messages(c):
                d = dict(m)
                d["account_id"] = c.id
                msgs.append(d)
            if c.odd_msg:
                odd_id = self.messages(c)[c.n_gen // 2]["id"]
                odd_messages.append({"table": "chat_messages", "id": odd_id, "field": "text"})
        orders = []
        history: list[dict[str, str]] = []
        for o in self.orders:
            d = self.order_detail(o)
            d["person_id"] = o.person.id
            orders.append(d)
            history.extend({"order_id": o.id, "status": s, "at": iso_ms(at)} for s, at in self.order_history(o))
        return {
            "people": people,
            "communication_channels": [self.channel_item(c, inbound) for c in channels],
            "chat_messages": msgs,
            "orders": orders,
            "tunnels": [self.tunnel_item(t) for t in self.tunnels],
            "leadgentools": [dict(self.lgt_item(lgt), tunnel_id=t["id"]) for t in self.tunnels for lgt in t["lgts"]],
            "traffic_sources": [dict(s, leadgentool_id=lgt["id"], tunnel_id=t["id"])
                                for t in self.tunnels for lgt in t["lgts"] for s in lgt["ts"]],
            "tunnel_stats": [dict(per[t["id"]], tunnel_id=t["id"]) for t in self.tunnels],
            "users": [dict(u) for u in self.users],
            "tags": [dict(t) for t in self.tags],
            "connections": [dict(c) for c in self.connections],
            "template_categories": [dict(c) for c in self.template_categories],
            "templates": [dict(t, category_id=cid) for cid, ts in self.templates.items() for t in ts],
            "anchor": iso_ms(self.anchor_ms),
            "last_message_time": "inbound" if inbound else "any",
            "deleted": {t: list(ids) for t, ids in self.deleted.items()},
            "order_status_history": history,
            "extra_fields": {t: list(f) for t, f in EXTRA_FIELDS.items()} if self.extra_fields else {},
            "odd_values": [v for v in [*self.odd_values, *odd_messages] if v["id"] not in gone],
        }

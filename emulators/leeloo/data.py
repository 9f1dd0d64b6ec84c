"""Deterministic synthetic Leeloo.ai account data.

Everything is derived from ``(seed, scale, anchor)``: the same arguments give
the same ids, names, timestamps and messages. ``scale`` is the number of people.
History spans ~2 years before ``anchor``; nothing generated lies after it.

Memory: people, channels and orders are small ``__slots__`` objects. A
channel's generated messages are *not* stored: each channel keeps only its
message count, its creation time and its last message time; the messages are
rebuilt on demand from ``(seed, channel index)`` (an LRU cache keeps the hot
ones). Messages added later (``simulate``/``mutate_rate``) are kept per channel.

Indices: people and channels are kept in lists sorted by ``lastMessageTime``
(parallel key/index lists, maintained with bisect on every change), so a
window filter is two bisects; orders are kept sorted by ``createdAt``.
"""
from __future__ import annotations

import bisect
import collections
import datetime as _dt
import hashlib
import random
import threading
from collections.abc import Iterable
from typing import Any

from emulators.base import iso_ms, now_ms, to_ms

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
PRICES = {
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
    ("DATE", "birthday", lambda r: f"{r.randint(1960, 2005)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T00:00:00.000Z"),
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


# --------------------------------------------------------------------------- entities

class Person:
    __slots__ = (
        "channels",
        "contacted_users",
        "created_ms",
        "custom_fields",
        "drift",
        "email",
        "gender",
        "id",
        "idx",
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


class Channel:
    __slots__ = (
        "bot_status",
        "connection_id",
        "connection_status",
        "created_ms",
        "extra",
        "frm",
        "id",
        "idx",
        "lmt_ms",
        "n_gen",
        "name",
        "person",
        "utm",
    )


class Order:
    __slots__ = (
        "created_ms",
        "currency",
        "description",
        "drift",
        "id",
        "idx",
        "payment_method",
        "person",
        "price",
        "status",
        "title",
        "updated_ms",
    )


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

    def move(self, idx: int, old_key: int, new_key: int) -> None:
        i = bisect.bisect_left(self.keys, old_key)
        while self.idxs[i] != idx:
            i += 1
        del self.keys[i]
        del self.idxs[i]
        self.add(idx, new_key)

    def add(self, idx: int, key: int) -> None:
        j = bisect.bisect_right(self.keys, key)
        self.keys.insert(j, key)
        self.idxs.insert(j, idx)


def _wchoice(r: random.Random, items, weights):
    return r.choices(items, weights)[0]


class LeelooData:
    """The whole synthetic account. Not thread-safe by itself: the server
    holds ``EmulatorApp.data_lock`` around every read and mutation."""

    MESSAGE_CACHE_CHANNELS = 20_000

    def __init__(self, seed: int = 1, scale: int = 200, anchor: _dt.datetime | None = None):
        if scale < 1:
            raise ValueError("scale must be >= 1")
        self.seed = int(seed)
        self.scale = int(scale)
        if anchor is None:
            anchor = _dt.datetime.now(_dt.UTC).replace(minute=0, second=0, microsecond=0)
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
        self._generate()

    # ----------------------------------------------------------------- ids
    def oid(self, ts_ms: int, key: str) -> str:
        """24-hex Mongo-like id: 8 hex of the timestamp + 16 hex of a hash of (seed, key)."""
        h = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).hexdigest()
        return "%08x%s" % ((int(ts_ms) // 1000) & 0xFFFFFFFF, h)

    # ----------------------------------------------------------------- generation
    def _generate(self) -> None:
        r = random.Random(self.seed)
        A = self.anchor_ms
        self.start_ms = A - 730 * DAY

        n_users = max(3, self.scale // 500)
        self.users = []
        for i in range(n_users):
            c = A - r.randint(740, 1100) * DAY + r.randint(0, DAY)
            u = c + r.randint(0, A - c)
            name = USER_NAMES[i % len(USER_NAMES)] + ("" if i < len(USER_NAMES) else f" {i}")
            self.users.append({"id": self.oid(c, f"u{i}"), "name": name, "createdAt": iso_ms(c), "updatedAt": iso_ms(u)})
        self.user_by_id = {u["id"]: u for u in self.users}

        n_tags = r.randint(10, 20)
        self.tags = [{"id": self.oid(A - 800 * DAY + i * HOUR, f"tag{i}"), "name": n}
                     for i, n in enumerate(r.sample(TAG_NAMES, n_tags))]
        tag_names = [t["name"] for t in self.tags]

        others = ["facebook", "vk", "viber", "whatsapp", "instagram", "sendGrid"]
        ctypes = ["telegram"] + r.sample(others, r.randint(2, 5))
        self.connections = [{"id": self.oid(A - 900 * DAY + i * DAY, f"conn{i}"), "type": t, "name": CONNECTION_NAMES[t]}
                            for i, t in enumerate(ctypes)]
        self.messenger_conns = [(MESSENGERS[c["type"]], c["id"]) for c in self.connections if c["type"] in MESSENGERS]

        self.template_categories, self.templates = [], {}
        for ci in range(r.randint(2, 4)):
            cid = self.oid(A - 850 * DAY + ci * DAY, f"cat{ci}")
            self.template_categories.append({"id": cid, "name": CATEGORY_NAMES[ci]})
            self.templates[cid] = [{"id": self.oid(A - 840 * DAY + ci * DAY + ti * HOUR, f"tpl{ci}:{ti}"), "message_name": n}
                                   for ti, n in enumerate(r.sample(TEMPLATE_NAMES, r.randint(1, 5)))]
        self.category_by_id = {c["id"]: c for c in self.template_categories}

        n_tunnels = max(3, self.scale // 250)
        self.tunnels = []
        self.lgt_by_id = {}
        for ti in range(n_tunnels):
            c = A - r.randint(735, 800) * DAY + r.randint(0, DAY)
            u = c + r.randint(0, A - c)
            name = TUNNEL_NAMES[ti % len(TUNNEL_NAMES)] + ("" if ti < len(TUNNEL_NAMES) else f" #{ti}")
            t = {"id": self.oid(c, f"tun{ti}"), "name": name, "createdAt": iso_ms(c), "updatedAt": iso_ms(u),
                 "lgts": [], "show_ratio": r.uniform(0.5, 3.0), "visit_ratio": r.uniform(0.2, 1.5),
                 "cost_per_visit": round(r.uniform(0.0, 0.8), 2)}
            for li in range(r.randint(2, 5)):
                lname = LGT_NAMES[li] if li else "Default leadgentool"
                lgt = {"id": self.oid(c + li * MINUTE, f"lgt{ti}:{li}"), "name": lname,
                       "type": "DEFAULT" if li == 0 else r.choice(LGT_TYPES[:-1]), "tunnel_id": t["id"], "ts": []}
                for si in range(r.randint(1, 3)):
                    sname = TS_NAMES[si] if si else "Default traffic source"
                    lgt["ts"].append({"id": self.oid(c + li * MINUTE + si * 1000, f"ts{ti}:{li}:{si}"), "name": sname})
                t["lgts"].append(lgt)
                self.lgt_by_id[lgt["id"]] = lgt
            self.tunnels.append(t)
        self.tunnel_by_id = {t["id"]: t for t in self.tunnels}

        self.people: list[Person] = []
        self.channels: list[Channel] = []
        self.orders: list[Order] = []
        self.person_by_id: dict[str, Person] = {}
        self.channel_by_id: dict[str, Channel] = {}
        self.order_by_id: dict[str, Order] = {}
        for _ in range(self.scale):
            c = A - int(r.random() * 730 * DAY)
            self._new_person(r, c, A, tag_names)
        # orders sorted by createdAt; the list stays sorted (new orders are "now")
        self.orders.sort(key=lambda o: (o.created_ms, o.idx))
        self.people_index = SortedIndex((p.lmt_ms, p.idx) for p in self.people)
        self.channel_index = SortedIndex((c.lmt_ms, c.idx) for c in self.channels)
        self.tag_names = tag_names

    def _new_person(self, r: random.Random, created: int, until: int, tag_names: list[str], *, fresh: bool = False) -> Person:
        """Create a person (and channels, orders) created at ``created``, with
        activity up to ``until``. ``fresh``: a brand-new person (simulate)."""
        p = Person()
        p.idx = len(self.people)
        first, last = r.choice(FIRST), r.choice(LAST)
        p.name = f"{first} {last}" if r.random() < 0.85 else first
        p.id = self.oid(created, f"p{p.idx}")
        p.email = "NOT_DEFINED" if r.random() < 0.25 else f"{first}.{last}{r.randint(1, 999)}@{r.choice(DOMAINS)}".lower()
        p.phone = "NOT_DEFINED" if r.random() < 0.35 else "+380" + "".join(r.choice("0123456789") for _ in range(9))
        p.profile_image = ("NOT_DEFINED" if r.random() < 0.5 else
                           f"https://static.leeloo.ai/images/{self.oid(created, f'img{p.idx}')}/{r.getrandbits(64):016x}.jpg")
        p.gender = _wchoice(r, GENDERS, GENDER_WEIGHTS)
        p.locale = r.choice(LOCALES)
        p.tags = r.sample(tag_names, min(len(tag_names), _wchoice(r, [0, 1, 2, 3], [40, 35, 18, 7])))
        p.contacted_users = [u["id"] for u in r.sample(self.users, min(len(self.users), _wchoice(r, [0, 1, 2], [45, 45, 10])))]
        p.custom_fields = [{"type": t, "name": n, "value": f(r)}
                           for t, n, f in r.sample(CUSTOM_FIELDS, _wchoice(r, [0, 1, 2, 3], [40, 30, 20, 10]))]
        p.drift = r.random() < 0.10
        p.created_ms = created
        p.channels = []
        p.orders = []
        self.people.append(p)
        self.person_by_id[p.id] = p

        n_ch = min(len(self.messenger_conns), _wchoice(r, [1, 2, 3], [60, 30, 10]))
        for k, (frm, conn_id) in enumerate(r.sample(self.messenger_conns, n_ch)):
            ch = Channel()
            ch.idx = len(self.channels)
            ch.person = p
            ch.created_ms = created if k == 0 else min(until, created + int(r.random() * min(60 * DAY, until - created)))
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
            ch.extra = None
            if fresh:
                ch.n_gen = 0
                ch.lmt_ms = ch.created_ms
            else:
                ch.n_gen = min(25, int(r.expovariate(1 / 8.5)))
                span = until - ch.created_ms
                ch.lmt_ms = ch.created_ms if ch.n_gen == 0 else ch.created_ms + int(span * (r.random() ** 0.6))
            p.channels.append(ch)
            self.channels.append(ch)
            self.channel_by_id[ch.id] = ch

        p.subscribe_history = []
        for _ in range(_wchoice(r, [1, 2, 3], [65, 25, 10])):
            p.subscribe_history.append(self._subscription(r, p))

        if not fresh and r.random() < 0.40:
            for _ in range(r.randint(1, 3)):
                oc = created + int(r.random() * (until - created))
                self._new_order(r, p, oc, until)
        p.lmt_ms = max(c.lmt_ms for c in p.channels)
        p.updated_ms = max(p.lmt_ms, max((o.updated_ms for o in p.orders), default=0))
        return p

    def _subscription(self, r: random.Random, p: Person) -> dict:
        t = r.choice(self.tunnels)
        lgt = r.choice(t["lgts"])
        ts = r.choice(lgt["ts"])
        return {"tunnelName": t["name"], "leadgentoolName": lgt["name"], "trafficSource": ts["name"],
                "tunnelId": t["id"], "leadgentoolId": lgt["id"], "trafficSourceId": ts["id"],
                "accountId": r.choice(p.channels).id}

    def _new_order(self, r: random.Random, p: Person, created: int, until: int, *, fresh: bool = False) -> Order:
        o = Order()
        o.idx = len(self.order_by_id)
        o.person = p
        o.id = self.oid(created, f"o{o.idx}")
        o.title = r.choice(OFFERS)
        o.description = f"{o.title}: {r.choice(['access for 1 month', 'full course', 'one session', 'PDF', 'ticket'])}"
        o.currency = _wchoice(r, CURRENCIES, CURRENCY_WEIGHTS)
        o.price = r.choice(PRICES[o.currency])
        o.payment_method = r.choice(PAYMENT_METHODS)
        o.created_ms = created
        if fresh:
            o.status = "OPENED"
            o.updated_ms = created
        else:
            o.status = _wchoice(r, ORDER_STATUSES, ORDER_STATUS_WEIGHTS)
            o.updated_ms = created if o.status == "OPENED" else created + int(r.random() * min(14 * DAY, until - created))
        o.drift = r.random() < 0.10
        p.orders.append(o)
        self.orders.append(o)
        self.order_by_id[o.id] = o
        return o

    # ----------------------------------------------------------------- messages
    def _generated_messages(self, ch: Channel) -> list[dict]:
        """The channel's seed-generated messages, oldest first (served shape)."""
        n = ch.n_gen
        if n == 0:
            return []
        with self._cache_lock:
            cached = self._msg_cache.get(ch.idx)
            if cached is not None:
                self._msg_cache.move_to_end(ch.idx)
                return cached
        r = random.Random(self.seed * 1_000_003 + ch.idx)
        gaps = []
        for _ in range(n - 1):
            if r.random() < 0.75:
                gaps.append(r.uniform(2_000, 15 * MINUTE))  # within a conversation
            else:
                gaps.append(r.uniform(HOUR, 12 * DAY))  # a new conversation
        span = ch.lmt_ms - ch.created_ms
        total = sum(gaps)
        if total > span:
            factor = span / total if total else 0.0
            gaps = [g * factor for g in gaps]
        times = [ch.lmt_ms]
        t = float(ch.lmt_ms)
        for g in reversed(gaps):
            t -= g
            times.append(max(ch.created_ms, int(t)))
        times.reverse()
        person = ch.person
        users = person.contacted_users
        out = []
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
            m = {"id": self.oid(ms, f"m{ch.idx}:{j}"), "text": text, "type": typ, "read": not unread,
                 "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)}
            if typ == "YOUR_MESSAGE":
                m["links"] = {"createdBy": {"type": "users", "id": r.choice(users)}}
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

    # ----------------------------------------------------------------- served shapes
    @staticmethod
    def accounts_of(p: Person) -> list[dict]:
        return [{"account_id": c.id, "connection_id": c.connection_id, "connection_status": c.connection_status,
                 "from": c.frm} for c in p.channels]

    def person_list_item(self, p: Person) -> dict:
        return {"id": p.id, "name": p.name, "email": p.email, "phone": p.phone, "tags": list(p.tags),
                "accounts": self.accounts_of(p), "lastMessageTime": iso_ms(p.lmt_ms)}

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
        return {
            "id": p.id, "name": p.name, "tags": list(p.tags), "profileImage": p.profile_image,
            "gender": p.gender, "phone": p.phone, "email": p.email, "locale": p.locale,
            "accounts": self.accounts_of(p),
            "subscribeHistory": [dict(s) for s in p.subscribe_history],
            "links": {"contactedUsers": [{"type": "users", "id": u} for u in p.contacted_users],
                      "orders": [{"type": "orders", "id": o.id} for o in p.orders]},
            "custom_fields": cf,
            "created_at": iso_ms(p.created_ms), "updated_at": iso_ms(p.updated_ms),
        }

    def included_for(self, p: Person, include: set[str], *, drift: bool = False, v1: bool = False) -> dict:
        inc: dict = {}
        if "contactedUsers" in include:
            inc["users"] = [dict(self.user_by_id[u]) for u in p.contacted_users]
        if "orders" in include:
            if v1:
                inc["orders"] = [{"id": o.id, "price": self.order_price(o, drift), "currency": o.currency,
                                  "paymentMethod": o.payment_method, "status": o.status,
                                  "updatedAt": iso_ms(o.updated_ms)} for o in p.orders]
            else:
                inc["orders"] = [self.included_order(o, drift) for o in p.orders]
        return inc

    @staticmethod
    def channel_item(c: Channel) -> dict:
        return {"id": c.id, "person_id": c.person.id, "name": c.name, "from": c.frm, "botStatus": c.bot_status,
                "lastMessageTime": iso_ms(c.lmt_ms), "createdAt": iso_ms(c.created_ms), "utmMarks": dict(c.utm)}

    @staticmethod
    def v1_account_item(c: Channel) -> dict:
        return {"id": c.id, "name": c.name, "tags": list(c.person.tags), "from": c.frm, "botStatus": c.bot_status,
                "lastMessageTime": iso_ms(c.lmt_ms), "createdAt": iso_ms(c.created_ms)}

    def v1_account_detail(self, c: Channel) -> dict:
        p = c.person
        return {
            "id": c.id, "name": c.name, "tags": list(p.tags), "from": c.frm, "botStatus": c.bot_status,
            "gender": p.gender, "phone": p.phone, "email": p.email, "locale": p.locale,
            "subscribeHistory": [{"tunnelName": s["tunnelName"], "leadgentoolName": s["leadgentoolName"],
                                  "trafficSource": s["trafficSource"]} for s in p.subscribe_history],
            "links": {"contactedUsers": [{"type": "users", "id": u} for u in p.contacted_users],
                      "orders": [{"type": "orders", "id": o.id} for o in p.orders]},
            "custom_fields": {f["name"]: f["value"] for f in p.custom_fields},
            "createdAt": iso_ms(c.created_ms), "updatedAt": iso_ms(max(c.lmt_ms, p.updated_ms)),
        }

    def order_item(self, o: Order, drift: bool = False) -> dict:
        return {"id": o.id, "person_id": o.person.id, "title": o.title, "price": self.order_price(o, drift),
                "currency": o.currency, "status": o.status, "createdAt": iso_ms(o.created_ms),
                "updatedAt": iso_ms(o.updated_ms)}

    def order_detail(self, o: Order, drift: bool = False) -> dict:
        return {"id": o.id, "createdAt": iso_ms(o.created_ms), "updatedAt": iso_ms(o.updated_ms), "title": o.title,
                "description": o.description, "price": self.order_price(o, drift), "currency": o.currency,
                "status": o.status, "paymentMethod": o.payment_method}

    @staticmethod
    def tunnel_item(t: dict) -> dict:
        return {"id": t["id"], "name": t["name"], "createdAt": t["createdAt"], "updatedAt": t["updatedAt"]}

    @staticmethod
    def lgt_item(lgt: dict) -> dict:
        return {"id": lgt["id"], "name": lgt["name"], "type": lgt["type"]}

    # ----------------------------------------------------------------- tunnel stats
    def tunnel_stats(self) -> tuple[dict[str, dict], dict]:
        """Per-tunnel stats (by tunnel id) and the all-tunnels totals, as of now.
        subscribers = subscribeHistory entries to the tunnel; uniqSubscribers =
        distinct people; orders/sales = orders (sales: SUCCESS or RESOLVED) of
        the people subscribed to it; totalSale = sales in USD. shows/visits add
        a per-tunnel multiple of the subscribers (never fewer)."""
        key = ("stats", self.version)
        hit = self._derived_cache.get("stats")
        if hit and hit[0] == key:
            return hit[1]
        acc = {t["id"]: {"subs": 0, "people": 0, "orders": 0, "sales": 0, "usales": 0, "usd": 0.0} for t in self.tunnels}
        all_people = all_orders = all_sales = all_usales = 0
        all_usd = 0.0
        for p in self.people:
            tids = set()
            for s in p.subscribe_history:
                acc[s["tunnelId"]]["subs"] += 1
                tids.add(s["tunnelId"])
            n_orders = len(p.orders)
            sales = [o for o in p.orders if o.status in SALE_STATUSES]
            usd = sum(o.price * USD_RATE[o.currency] for o in sales)
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
        per = {}
        tot = dict.fromkeys(("subscribers", "uniqSubscribers", "orders", "sales", "uniqSales", "visits",
                             "uniqVisits", "shows", "uniqShows", "totalSale", "totalExpenses"), 0)
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
                for c in e.channels:
                    fc.pop(("channel", c.idx), None)
                    fc.pop(("v1account", c.idx), None)
            elif isinstance(e, Channel):
                fc.pop(("channel", e.idx), None)
                fc.pop(("v1account", e.idx), None)
            elif isinstance(e, Order):
                fc.pop(("order", e.idx, False), None)
                fc.pop(("order", e.idx, True), None)

    def _touch_channel(self, ch: Channel, new_msgs: list[dict], last_ms: int) -> None:
        self.invalidate(ch.person)
        if ch.extra is None:
            ch.extra = []
        ch.extra.extend(new_msgs)
        if last_ms != ch.lmt_ms:
            self.channel_index.move(ch.idx, ch.lmt_ms, last_ms)
            ch.lmt_ms = last_ms
        p = ch.person
        new_p = max(c.lmt_ms for c in p.channels)
        if new_p != p.lmt_ms:
            self.people_index.move(p.idx, p.lmt_ms, new_p)
            p.lmt_ms = new_p
        p.updated_ms = max(p.updated_ms, last_ms)

    def person_writes(self, p: Person, r: random.Random, *, n_msgs: int = 1, at_ms: int | None = None) -> dict:
        """``p`` writes now on one of their channels: a FRIEND_MESSAGE, then
        (n_msgs-1) BOT/YOUR replies, the last one stamped ``at_ms`` (default now)."""
        now = now_ms() if at_ms is None else at_ms
        ch = r.choice(p.channels)
        if now <= ch.lmt_ms:  # keep timestamps increasing within the channel
            now = ch.lmt_ms + n_msgs
        msgs = []
        base = len(ch.extra) if ch.extra else 0
        for j in range(n_msgs):
            ms = now - (n_msgs - 1 - j)
            if j == 0:
                typ = "FRIEND_MESSAGE"
            else:
                typ = "YOUR_MESSAGE" if p.contacted_users and r.random() < 0.4 else "BOT_MESSAGE"
            texts = {"FRIEND_MESSAGE": FRIEND_TEXTS, "BOT_MESSAGE": BOT_TEXTS, "YOUR_MESSAGE": YOUR_TEXTS}[typ]
            m = {"id": self.oid(ms, f"x{ch.idx}:{base + j}"), "text": r.choice(texts), "type": typ,
                 "read": typ != "FRIEND_MESSAGE", "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)}
            if typ == "YOUR_MESSAGE":
                m["links"] = {"createdBy": {"type": "users", "id": r.choice(p.contacted_users)}}
            msgs.append(m)
        self._touch_channel(ch, msgs, now)
        self.version += 1
        return {"person_id": p.id, "account_id": ch.id, "message_ids": [m["id"] for m in msgs],
                "lastMessageTime": iso_ms(now)}

    def add_person_now(self, r: random.Random) -> Person:
        now = now_ms()
        p = self._new_person(r, now, now, self.tag_names, fresh=True)
        for ch in p.channels:
            self.channel_index.add(ch.idx, ch.lmt_ms)
        self.people_index.add(p.idx, p.lmt_ms)
        # an opening exchange on the first channel: subscription, then the client writes
        ch = p.channels[0]
        msgs = []
        for j, typ in enumerate(("SYSTEM_MESSAGE", "BOT_MESSAGE", "FRIEND_MESSAGE")):
            ms = now - (2 - j)
            texts = {"SYSTEM_MESSAGE": SYSTEM_TEXTS, "BOT_MESSAGE": BOT_TEXTS, "FRIEND_MESSAGE": FRIEND_TEXTS}[typ]
            msgs.append({"id": self.oid(ms, f"x{ch.idx}:{j}"), "text": r.choice(texts), "type": typ,
                         "read": typ != "FRIEND_MESSAGE", "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)})
        self._touch_channel(ch, msgs, max(now, ch.lmt_ms))
        self.version += 1
        return p

    def add_order_now(self, r: random.Random, p: Person) -> Order:
        now = now_ms()
        if self.orders and self.orders[-1].created_ms > now:  # keep the createdAt order
            now = self.orders[-1].created_ms
        o = self._new_order(r, p, now, now, fresh=True)
        p.updated_ms = max(p.updated_ms, now)
        self.version += 1
        return o

    def change_order_status(self, r: random.Random, o: Order) -> str:
        now = now_ms()
        o.status = r.choice([s for s in ORDER_STATUSES if s != o.status and s != "OPENED"])
        self.invalidate(o)
        o.updated_ms = max(now, o.updated_ms)
        o.person.updated_ms = max(o.person.updated_ms, o.updated_ms)
        self.version += 1
        return o.status

    def add_subscription(self, r: random.Random, p: Person) -> dict:
        s = self._subscription(r, p)
        p.subscribe_history.append(s)
        self.version += 1
        return s

    # ----------------------------------------------------------------- truth
    def truth(self) -> dict:
        per, _tot = self.tunnel_stats()
        people = []
        for p in self.people:
            d = self.person_detail(p)
            d["lastMessageTime"] = iso_ms(p.lmt_ms)
            people.append(d)
        msgs = []
        for c in self.channels:
            for m in self.messages(c):
                d = dict(m)
                d["account_id"] = c.id
                msgs.append(d)
        orders = []
        for o in self.orders:
            d = self.order_detail(o)
            d["person_id"] = o.person.id
            orders.append(d)
        return {
            "people": people,
            "communication_channels": [self.channel_item(c) for c in self.channels],
            "chat_messages": msgs,
            "orders": orders,
            "tunnels": [self.tunnel_item(t) for t in self.tunnels],
            "leadgentools": [dict(self.lgt_item(l), tunnel_id=t["id"]) for t in self.tunnels for l in t["lgts"]],
            "traffic_sources": [dict(s, leadgentool_id=l["id"], tunnel_id=t["id"])
                                for t in self.tunnels for l in t["lgts"] for s in l["ts"]],
            "tunnel_stats": [dict(per[t["id"]], tunnel_id=t["id"]) for t in self.tunnels],
            "users": [dict(u) for u in self.users],
            "tags": [dict(t) for t in self.tags],
            "connections": [dict(c) for c in self.connections],
            "template_categories": [dict(c) for c in self.template_categories],
            "templates": [dict(t, category_id=cid) for cid, ts in self.templates.items() for t in ts],
            "anchor": iso_ms(self.anchor_ms),
        }

"""The Leeloo emulator's vocabulary: time units, the values fields draw from, the names
strangers and operators give things, and the tables deletions can touch.

Every list's order matters: the generator draws from them by position, so the same seed
gives the same account only while they stay as they are."""
from __future__ import annotations

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

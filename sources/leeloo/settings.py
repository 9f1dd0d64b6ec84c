"""Leeloo.ai API v2 endpoints and the knobs a run may turn."""

DEFAULT_BASE_URL = "https://api.leeloo.ai"
DEFAULT_INITIAL_DATE = "2015-01-01"

AUTH_HEADER = "X-Leeloo-AuthToken"

PEOPLE = "api/v2/people"
PERSON = "api/v2/people/{id}"
PERSON_INCLUDE = "contactedUsers,orders"
CHANNELS = "api/v2/communication-channels"
CHANNEL_MESSAGES = "api/v2/communication-channels/{id}/chat-messages"
ORDERS = "api/v2/orders"
ORDER = "api/v2/orders/{id}"
TUNNELS = "api/v2/tunnels"
TUNNEL = "api/v2/tunnels/{id}"
TUNNEL_STATS = "api/v2/tunnels/{id}/stats"
USERS = "api/v2/users"
USER = "api/v2/users/{id}"
TAGS = "api/v2/tags"
CONNECTIONS = "api/v2/connections"
TEMPLATE_CATEGORIES = "api/v2/categories/templates"
TEMPLATES = "api/v2/categories/templates/{id}"
V1_ACCOUNTS = "api/v1/accounts"

WINDOW_FROM = "filter[last_message][from]"
WINDOW_TO = "filter[last_message][to]"

# Public client code reports a maximum of 100; a server that caps lower is handled by paging.
PAGE_SIZE = 100
# Re-read this much before the last loaded point: covers date-granular window edges.
WINDOW_OVERLAP_HOURS = 24
# Leeloo's help pages state 300 requests per minute per account.
REQUESTS_PER_MINUTE = 300
CONCURRENCY = 8
# Every channel's messages and every person's detail are re-verified at least once per this many runs.
SWEEP_RUNS = 7
# A first load reads history newest first, one committed window at a time, each sized to cost about this many
# requests (~10 minutes at 300 a minute): the reports cover the last day within minutes, then reach further back.
BACKFILL_WINDOW_REQUESTS = 3000

PLACEHOLDERS = frozenset({"NOT_DEFINED", "NO_DATA"})

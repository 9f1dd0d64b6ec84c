"""Salebot.pro constructor API: actions, limits and defaults the source relies on.

Every number here is from ``salebot-api.ru.md`` unless marked as our own default.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://chatter.salebot.pro"
API_PATH = "api/{api_key}/{action}"  # the key is a path segment: redact it everywhere

# READ actions
GET_CLIENTS = "get_clients"
GET_HISTORY = "get_history"
GET_VARIABLES = "get_variables"
GET_ORDERS = "get_orders"
GET_ORDER_VARS = "get_order_vars"  # POST with a JSON body
GET_ORDER_STATE = "get_order_state"
CONNECTED_CHANNELS = "connected_channels"
GET_MESSAGES = "get_messages"  # bot blocks, despite the name

# The permission a key needs for each action, as the document names it on the action's card
READ_CLIENTS = "Разрешение на чтение информации о клиентах"  # read client information
READ_CRM = "Разрешение на чтение информации из CRM"  # read CRM information
PERMISSION_IN_ENGLISH = {READ_CLIENTS: "read client information", READ_CRM: "read CRM information"}
PERMISSIONS = {
    GET_CLIENTS: READ_CLIENTS,
    GET_HISTORY: READ_CLIENTS,
    GET_VARIABLES: READ_CLIENTS,
    CONNECTED_CHANNELS: READ_CLIENTS,
    GET_MESSAGES: READ_CLIENTS,
    GET_ORDERS: READ_CRM,
    GET_ORDER_STATE: READ_CRM,
    GET_ORDER_VARS: READ_CRM,
}
# what a run cannot load without an action
LOADS = {
    GET_HISTORY: "messages (only webhook pushes land)",
    GET_VARIABLES: "client_variables",
    CONNECTED_CHANNELS: "channels",
    GET_MESSAGES: "blocks",
    GET_ORDERS: "orders and order_status_changes",
    GET_ORDER_STATE: "the CRM state (state_id) of orders",
    GET_ORDER_VARS: "order variables",
}

CLIENTS_PAGE_LIMIT = 500  # documented default and maximum
HISTORY_LIMIT = 2000  # documented default and maximum
HISTORY_DATE_FORMAT = "%d.%m.%Y"  # dd.mm.yyyy, day granular
# Salebot's days are probably the project's (Moscow) days, not UTC: every window is
# widened by this many days on both ends and merge on `id` removes the overlap.
HISTORY_OVERLAP_DAYS = 1
# The API's clock may be hours off ours, or write local time as UTC (up to 14 h:
# sources.clocks.MAX_SKEW): its days may be one more off ours, so windows reach one more day
# past today, and start one more day before the last day read.
CLOCK_SKEW_DAYS = 1

ORDER_STATUSES = {0: "active", 1: "success", 2: "failed"}
OPEN_STATUS = 0

# answers whose `status` means "this call failed, try again" (not "not found")
TRANSIENT_ERROR_STATUSES = {"error", 0, "0"}
# answers meaning the client or order vanished between listing and reading: no data
NOT_FOUND_STATUSES = {"client_not_found", "order not found", "order_not_found"}
CLIENT_NOT_FOUND = "client_not_found"

# our defaults (config keys of the same name under [sources.salebot])
DEFAULT_CONCURRENCY = 4
DEFAULT_REQUESTS_PER_MINUTE = 300  # Salebot publishes no limit; polite by default
DEFAULT_SWEEP_RUNS = 7  # every client is fully re-read at least once per this many runs
DEFAULT_WEBHOOK_STORE = ".chatfunnel/salebot_webhook.sqlite"

# Our sizing of the sweep under a request budget (a daily cap): the share of the budget
# (after the client list) the sweep keeps however busy the night, so that busy nights
# cannot postpone the re-verification of quiet clients without bound.
SWEEP_BUDGET_SHARE = 0.25
# requests a full read of one client costs before its orders are known: history,
# three order lists, variables; each order adds its state and its variables
CLIENT_READ_REQUESTS = 5
ORDER_READ_REQUESTS = 2
# Our default: a first load too big for one window reads its clients newest first, one committed window
# (of clients created in a span of time) at a time, each sized to cost about this many requests (~10 minutes
# at 300 a minute): the reports cover the newest clients within minutes, then reach further back.
BACKFILL_WINDOW_REQUESTS = 3000

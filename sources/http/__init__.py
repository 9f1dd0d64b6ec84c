"""HTTP plumbing shared by the chatfunnel sources, one concern per module.

Both APIs force one request chain per person, channel or client, so a run is thousands
of small requests. dlt's retrying client does the retries (429 with Retry-After, 5xx,
timeouts); on top of it:

- `client`: the JSON client, which meters every attempt and keeps secrets out of errors;
- `errors`: what a failed request raises, typed so callers never read message text;
- `pacing`: the client-side rate limit and the request budget, shared by all threads;
- `fanout`: a bounded pool of worker threads shared by every fan-out of a client;
- `redaction`: secrets out of messages and log records.
"""

from sources.http.client import ApiClient
from sources.http.errors import ApiError, ApiUnreachable, AuthError, BudgetExhausted, Forbidden, UnexpectedAnswer
from sources.http.fanout import WorkerPool, fan_out
from sources.http.pacing import RateLimiter, RequestBudget
from sources.http.redaction import install_log_redaction, redact

__all__ = [
    "ApiClient",
    "ApiError",
    "ApiUnreachable",
    "AuthError",
    "BudgetExhausted",
    "Forbidden",
    "RateLimiter",
    "RequestBudget",
    "UnexpectedAnswer",
    "WorkerPool",
    "fan_out",
    "install_log_redaction",
    "redact",
]

"""The Leeloo API client: the shared HTTP client with Leeloo's header and error envelope."""

from __future__ import annotations

from typing import Any

from sources.http import ApiClient, RateLimiter, RequestBudget

from . import settings


def is_app_error(body: Any) -> bool:
    """A 200 whose envelope says status != 1 is an error the server may cure on retry."""
    return isinstance(body, dict) and "status" in body and str(body["status"]) != "1"


def make_client(
    api_token: str,
    base_url: str,
    *,
    requests_per_minute: float | None,
    max_requests: int | None,
    concurrency: int,
) -> ApiClient:
    return ApiClient(
        base_url,
        headers={settings.AUTH_HEADER: api_token, "Accept": "application/json"},
        secrets=(api_token,),
        rate_limiter=RateLimiter(requests_per_minute),
        budget=RequestBudget(max_requests),
        max_connections=max(concurrency, 1),
        is_app_error=is_app_error,
    )

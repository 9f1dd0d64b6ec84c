"""Which inbox a request may push to: the account and the secret in its URL.

Salebot lets a project set only a URL, so the secret travels in it:

    <base>/<secret>                 the unnamed account
    <base>?token=<secret>           the same, as a query parameter
    <base>/<account>/<secret>       a named account
    <base>/<account>?token=<secret>

The raw, still percent-encoded path is read, never the decoded one: ``%2F`` must not turn
one segment into two, and a secret is URL-safe, so any encoded byte means "no". Anything
that is not exactly one of these shapes is refused, whatever the secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from pipelines.webhook.config import Inbox


@dataclass(frozen=True)
class Router:
    base: bytes  # e.g. b"/salebot/webhook", no trailing slash
    inboxes: Mapping[str | None, Inbox]  # by account name; None is the unnamed account

    @classmethod
    def for_inboxes(cls, base: str, inboxes: list[Inbox]) -> Router:
        return cls(("/" + base.strip("/")).encode("ascii"), {i.name: i for i in inboxes})

    def is_webhook_path(self, raw_path: bytes) -> bool:
        return raw_path == self.base or raw_path.startswith(self.base + b"/")

    def authorise(self, raw_path: bytes, query_string: bytes) -> Inbox | None:
        """The inbox this request may push to, or None. Constant time in the secret."""
        if not self.is_webhook_path(raw_path):
            return None
        rest = raw_path[len(self.base) :]
        if rest.endswith(b"/"):
            rest = rest[:-1]  # one trailing slash, as people paste URLs
        segments = rest[1:].split(b"/") if rest else []
        token = _token(query_string)
        account: bytes | None
        if not segments:
            account, given = None, token
        elif len(segments) == 1 and token is not None and self._named(segments[0]):
            account, given = segments[0], token
        elif len(segments) == 1:
            account, given = None, segments[0]
        elif len(segments) == 2:
            account, given = segments[0], segments[1]
        else:
            return None
        name = account.decode("ascii") if account is not None else None
        if account is not None and not self._named(account):
            return None
        inbox = self.inboxes.get(name)
        if inbox is None or not given:
            return None
        return inbox if hmac.compare_digest(given, inbox.secret.encode("ascii")) else None

    def _named(self, segment: bytes) -> bool:
        return segment.isascii() and segment.decode("ascii") in self.inboxes


def _token(query_string: bytes) -> bytes | None:
    """The raw value of the one ``token`` parameter; None when absent or repeated."""
    values = [part[len(b"token=") :] for part in query_string.split(b"&") if part.startswith(b"token=")]
    return values[0] if len(values) == 1 else None

"""What a push body must be before it is stored: the documented shape, nothing the loader
would choke on later.

The loader reads every stored push on every run until it is loaded, so a push that parses
here but not there would stop the account's loads each night. Hence stricter than JSON:
UTF-8 only, no NaN/Infinity, bounded nesting, no lone surrogates, and ids that fit the
warehouse's 64-bit integers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sources.salebot.webhook_store import PushRecord

MAX_BODY_BYTES = 1 << 20
MAX_DEPTH = 32  # Salebot's pushes nest 3 levels; anything deep is not a push
_MAX_ID = (1 << 63) - 1
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: int() would accept other scripts' digits


class BadPush(ValueError):
    """The body is not a push; ``str()`` says why, in words fixed here (never the input)."""


@dataclass(frozen=True)
class ParsedPush:
    message_id: int
    client_id: int
    text: str  # the body as received, decoded

    def record(self, received_at: float) -> PushRecord:
        return PushRecord(self.message_id, self.client_id, self.text, received_at)


def parse_push(raw: bytes) -> ParsedPush:
    """The push in ``raw``, or :class:`BadPush`."""
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadPush("body must be a UTF-8 JSON document") from None
    problem = validate_push(body)
    if problem:
        raise BadPush(problem)
    return ParsedPush(_as_id(body["id"]), _as_id(body["client"]["id"]), text)  # type: ignore[arg-type]


def validate_push(body: Any) -> str | None:
    """None when ``body`` has the documented push shape, else what is wrong."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if _as_id(body.get("id")) is None:
        return "'id' (the message id) must be a non-negative 64-bit integer"
    client = body.get("client")
    if not isinstance(client, dict) or _as_id(client.get("id")) is None:
        return "'client.id' must be a non-negative 64-bit integer"
    if not _is_flag(body.get("is_input")):
        return "'is_input' must be 0 or 1"
    return _check_tree(body)


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        stripped = value.strip()
        value = int(stripped) if _DIGITS.fullmatch(stripped) else None
    if isinstance(value, int) and 0 <= value <= _MAX_ID:
        return value
    return None


def _is_flag(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in (0, 1)
    return isinstance(value, str) and value in ("0", "1")


def _check_tree(body: Any) -> str | None:
    """Nesting within MAX_DEPTH and every text encodable as UTF-8 (no lone surrogates)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"body nests deeper than {MAX_DEPTH} levels"
        if isinstance(node, dict):
            for key, value in node.items():
                if not _utf8(key):
                    return "texts must be valid Unicode"
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str) and not _utf8(node):
            return "texts must be valid Unicode"
    return None


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")

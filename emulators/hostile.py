"""Strings a stranger can type, and values of the wrong shape, for the emulators' hostile knobs.

Both emulators draw from here so that the pipeline is tested against the same attacks
everywhere: markup that would run in a dashboard (including plotly's own label markup and
text that closes a <script> block), quotes and SQL fragments, a NUL byte (valid JSON,
which Postgres text cannot store), bidirectional overrides, emoji and very long text.
"""

from __future__ import annotations

import random
from typing import Any

LONG_TEXT = ("Долгий текст 🚀 " * 5000)[:70_000]

PAYLOADS: tuple[str, ...] = (
    "<img src=x onerror=\"window.__xss=1\">",
    "<script>window.__xss=1</script>",
    "</script><script>window.__xss=1</script>",
    "<svg onload=window.__xss=1>",
    "<a href=\"https://evil.example/\">click me</a>",
    "<b>bold</b><br>line<i>it</i><sup>1</sup>",
    "javascript:window.__xss=1",
    "' OR '1'='1",
    "Robert'); DROP TABLE people;--",
    "\"double\" 'single' `back` \\ backslash",
    "nul\u0000byte",
    "\u202eevil\u202c override",
    "emoji 👍🏽👩‍👩‍👧 Ünïcødé",
    "{{7*7}} ${7*7} %s %(x)s",
    "",
    " ",
    "line\nbreak\ttab\rreturn",
    LONG_TEXT,
)

# shapes an API may send where the documents promise text
ODD_SHAPES: tuple[Any, ...] = (
    {"first": "Olena", "last": "<b>K</b>"},
    ["a", {"b": 1}],
    {"nested": {"deeper": [1, 2, None]}},
    12345,
    True,
)


# where the documents promise text: a JSON object or list
ODD_TEXTS: tuple[Any, ...] = tuple(v for v in ODD_SHAPES if isinstance(v, (dict, list)))

# where the documents promise a number: text that is not one
NOT_NUMBERS: tuple[str, ...] = ("n/a", "149,99 грн", "", "1.2.3")


def payload(rng: random.Random) -> str:
    return rng.choice(PAYLOADS)


def odd_shape(rng: random.Random) -> Any:
    return rng.choice(ODD_SHAPES)

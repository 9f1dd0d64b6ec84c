"""Every string on the page was typed by a stranger (a tunnel name, a UTM mark, a manager's
name): this module is the only way text reaches the page, in each of the three places it can
land, each with its own escaping.

- HTML text and attributes: `text()` (html.escape, quotes included).
- plotly labels (titles, categories, trace names, hover values): plotly reads a small HTML
  subset in every label (`<a href>` becomes a link, `<b>`, `<span style>`, `<br>`), splits
  the label on tags FIRST and decodes entities after, so `label()` escapes `& < >` as
  entities (plotly decodes `&amp; &lt; &gt;` back to text; it knows no `&quot;`).
- JSON inside `<script>`: `script_json()` writes `<`, `>` and `&` as `\\u003c`..., so no
  string can close the block (`</script>`) or open an HTML comment (`<!--`).

The page's Content-Security-Policy (`content_security_policy()`) is the second wall: scripts
only by the hashes of the page's own inline scripts, nothing loaded from anywhere, no inline
event handlers, no forms, no base URL. Styles allow 'unsafe-inline' because plotly.js writes
style elements and style attributes while it draws (measured: with a strict style-src every
chart loses its layout); style injection needs an HTML injection first, which the escaping
above rules out. Images only as `data:` URLs: plotly draws a heatmap as a PNG it encodes
itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable

LABEL_LIMIT = 60
# bidirectional embeddings, overrides and isolates: in an SVG label they reorder the
# characters around them (a label could read backwards); shown as text they mean nothing
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
# C0 controls but tab, newline and carriage return, DEL, and the C1 range: not printable in a label
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE_RUN = re.compile(r"\s+")


def text(value: Any) -> str:
    """Text for HTML element content or a quoted attribute value."""
    return html.escape(_CONTROL.sub("\ufffd", "" if value is None else str(value)), quote=True)


def plain_label(value: Any, fallback: str = "(no name)", limit: int = LABEL_LIMIT) -> str:
    """The readable one-line form of a stranger's string: controls and bidi overrides
    dropped, whitespace runs as one space, cut at `limit` characters (with an ellipsis)."""
    raw = "" if value is None else str(value)
    clean = _SPACE_RUN.sub(" ", _CONTROL.sub("\ufffd", _BIDI.sub("", raw))).strip()
    if not clean:
        return fallback
    return clean if len(clean) <= limit else clean[: limit - 1].rstrip() + "…"


def label(value: Any, fallback: str = "(no name)", limit: int = LABEL_LIMIT) -> str:
    """A stranger's string as plotly label text: shown as typed, never read as markup."""
    return html.escape(plain_label(value, fallback, limit), quote=False)


def chart_text(value: str) -> str:
    """Our own words (chart titles, axis names) for plotly: escaped the same way, so an
    account name inside a title is text too."""
    return html.escape(value, quote=False)


def unique(labels: Iterable[str]) -> list[str]:
    """Labels made distinct (" (2)", " (3)" ...): plotly merges equal category labels into
    one bar, so two tunnels both named "Webinar" would silently add up."""
    seen: dict[str, int] = {}
    out = []
    for item in labels:
        count = seen.get(item, 0) + 1
        seen[item] = count
        out.append(item if count == 1 else f"{item} ({count})")
    return out


def plain(value: Any) -> Any:
    """JSON-ready: dates as ISO text, Decimals as floats, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "tolist"):  # numpy arrays and scalars from plotly's validators
        return plain(value.tolist())
    return str(value)


_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> str:
    """JSON for a `<script type="application/json">` block that no string can break out of."""
    encoded = json.dumps(plain(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_UNSAFE[m.group(0)], encoded)


def script_hash(body: str) -> str:
    digest = hashlib.sha256(body.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(inline_scripts: Iterable[str]) -> str:
    """The page's policy: its own inline scripts by hash, nothing else runs or loads."""
    hashes = " ".join(script_hash(body) for body in inline_scripts)
    return (
        "default-src 'none'; "
        f"script-src {hashes}; "
        "style-src 'unsafe-inline'; "
        "img-src data:; "
        "connect-src 'none'; font-src 'none'; object-src 'none'; media-src 'none'; frame-src 'none'; "
        "worker-src 'none'; manifest-src 'none'; base-uri 'none'; form-action 'none'"
    )

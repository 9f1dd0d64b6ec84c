"""The HTML beside the charts: tables and notes. Every value passes through `markup.text`."""

from __future__ import annotations

from datetime import date
from typing import Any, Sequence

from pipelines.operations.dashboard.charts import FUNNEL_STAGES, day, maybe_num, num
from pipelines.operations.dashboard.facts import Freshness, Headline
from pipelines.operations.dashboard.markup import plain_label, text

CELL_LIMIT = 200
ERROR_PREVIEW = 280


def fmt_int(value: Any) -> str:
    return f"{int(num(value)):,}".replace(",", "\u202f")


def fmt_money(value: float) -> str:
    return f"{value:,.2f}".replace(",", "\u202f")


def fmt_share(value: Any) -> str:
    share = maybe_num(value)
    return "—" if share is None else f"{share * 100:.1f}%"


def name_cell(value: Any, fallback: str = "(no name)") -> str:
    """A stranger's name in a table cell: readable, at most CELL_LIMIT characters; the whole
    text (up to 2,000 characters) is in the tooltip."""
    shown = plain_label(value, fallback, CELL_LIMIT)
    full = "" if value is None else str(value)[:2000]
    return f'<td class="name" title="{text(full)}"><bdi>{text(shown)}</bdi></td>'


def tunnels_table(latest: Sequence[dict[str, Any]]) -> str:
    """Every tunnel's newest snapshot: the chart above shows the biggest, this shows all."""
    head = "".join(f'<th class="n">{title}</th>' for _, title in FUNNEL_STAGES)
    rows = []
    for r in latest:
        romi = maybe_num(r.get("romi"))
        rows.append(
            "<tr>" + name_cell(r.get("tunnel_name"), f"tunnel {r.get('tunnel_id')}")
            + f'<td class="date">{text(day(r.get("snapshot_date")))}</td>'
            + "".join(f'<td class="n">{fmt_int(r.get(c))}</td>' for c, _ in FUNNEL_STAGES)
            + f'<td class="n">{fmt_share(r.get("subscribe_rate"))}</td>'
            + f'<td class="n">{fmt_share(r.get("sale_rate"))}</td>'
            + f'<td class="n">{fmt_money(num(r.get("total_sale")))}</td>'
            + f'<td class="n">{fmt_money(num(r.get("total_expenses")))}</td>'
            + f'<td class="n {"neg" if romi is not None and romi < 0 else ""}">'
            + ("—" if romi is None else f"{romi * 100:+.0f}%") + "</td></tr>"
        )
    return (
        f'<details class="table" open><summary>All {len(latest)} tunnels, newest snapshot each</summary>'
        '<div class="scroll"><table class="tunnels"><thead><tr><th>tunnel</th><th>snapshot</th>' + head
        + '<th class="n">subscribers / shows</th><th class="n">sales / orders</th><th class="n">total sale</th>'
        '<th class="n">expenses</th><th class="n">ROMI</th></tr></thead><tbody>'
        + "".join(rows) + "</tbody></table></div></details>"
    )


def names_note(title: str, names: Sequence[Any]) -> str:
    if not names:
        return ""
    shown = ", ".join(f"<bdi>{text(plain_label(n, limit=60))}</bdi>" for n in names[:30])
    more = f" and {len(names) - 30} more" if len(names) > 30 else ""
    return f'<p class="note">{text(title)}: {shown}{more}.</p>'


def _days(days: Sequence[date]) -> str:
    listed = ", ".join(d.isoformat() for d in days[-20:])
    return listed + (f" (the last 20 of {len(days)})" if len(days) > 20 else "")


def gaps_note(gaps: Sequence[date], partial: Sequence[date] = ()) -> str:
    """Which days the trend cannot show, and why: never smoothed over."""
    notes = []
    if gaps:
        notes.append(f"No tunnel stats snapshot on {_days(gaps)}: Leeloo keeps no history of its counters, so a "
                     "night whose run failed or stopped before the tunnels leaves that day empty.")
    if partial:
        notes.append(f"Only some tunnels were snapshotted on {_days(partial)} (hover a bar for how many); the "
                     "others' change shows on their next snapshot.")
    if not notes:
        notes.append("Every day in this range has a snapshot of every tunnel.")
    return "".join(f'<p class="note">{text(n)}</p>' for n in notes)


def _error_cell(error: Any) -> str:
    """The whole error, wrapped, never cut mid-word; a long one opens from its first words."""
    message = "" if error is None else str(error)
    if len(message) <= ERROR_PREVIEW:
        return f'<td class="error">{text(message)}</td>'
    cut = message.rfind(" ", 0, ERROR_PREVIEW)
    preview = message[: cut if cut > ERROR_PREVIEW // 2 else ERROR_PREVIEW]
    return (f'<td class="error"><details><summary>{text(preview)} …</summary>'
            f'<div class="full">{text(message)}</div></details></td>')


def runs_table(fresh: Freshness, anchor: str) -> str:
    rows = []
    for r in fresh.runs:
        when = r.get("finished_at") or r.get("started_at")
        rows.append(
            f'<tr class="outcome-{text(r["outcome"])}"><td>{text(r["outcome"])}</td>'
            f"<td>{text(f'{when:%Y-%m-%d %H:%M:%S}' if when else '—')}</td>"
            f'<td class="n">{num(r.get("duration_seconds")):.1f}s</td>'
            f'<td class="n">{fmt_int(r.get("rows_loaded"))}</td><td class="n">{fmt_int(r.get("requests"))}</td>'
            + _error_cell(r.get("error")) + "</tr>"
        )
    body = "".join(rows) or '<tr><td colspan="6" class="empty">no runs recorded yet</td></tr>'
    return (
        f'<section class="card" id="{anchor}-runs"><h3>Last runs</h3><table class="runs"><thead><tr>'
        '<th>outcome</th><th>finished (UTC)</th><th class="n">duration</th><th class="n">rows loaded</th>'
        '<th class="n">API requests</th><th>error</th></tr></thead><tbody>' + body + "</tbody></table></section>"
    )


def revenue_text(headline: Headline) -> str:
    if not headline.revenue:
        return f'<span class="dim">{text(headline.revenue_note or "no paid orders yet")}</span>'
    return "<br>".join(
        f"{text(fmt_money(amount))} {text(plain_label(currency, '?', 12))}"
        f' <span class="dim">({headline.paid_orders.get(currency, 0)} orders)</span>'
        for currency, amount in sorted(headline.revenue.items(), key=lambda kv: -kv[1])
    )


def freshness_text(fresh: Freshness) -> str:
    if fresh.last_success is None:
        return "no successful run recorded"
    return f"{fresh.last_success:%Y-%m-%d %H:%M} UTC ({fresh.age})"


def tile(title: str, value: str, note: str = "", level: str = "") -> str:
    """`value` and `note` are HTML already escaped by the caller."""
    return (f'<div class="tile {level}"><div class="k">{text(title)}</div><div class="v">{value}</div>'
            + (f'<div class="k">{note}</div>' if note else "") + "</div>")

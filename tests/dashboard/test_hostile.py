"""Strangers' strings on the dashboard: every payload of `emulators.hostile.PAYLOADS` as
tunnel, lead-gen tool, traffic source, UTM, manager, Salebot channel and account names,
loaded for real and rendered; in headless Chromium nothing is injected, nothing links out,
no script runs, and the payloads read as text."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.hostile import PAYLOADS
from emulators.leeloo import LeelooEmulator
from emulators.salebot import SalebotEmulator, SalebotKnobs
from pipelines.operations.dashboard import ReportReader, discover_accounts, figures_in, render_dashboard
from pipelines.operations.dashboard.markup import plain_label
from tests.dashboard.browser import Browser, require_chromium
from tests.dashboard.conftest import LEELOO_TOKENS, SALEBOT_KEY, account_views, load
from tests.dashboard.pages import elements, normalized, probe, strings

# our own label markup in figures: line breaks in titles, the hover box's trace name
OWN_TAGS = re.compile(r"<br>|</?extra>")
VISIBLE = [p for p in PAYLOADS if plain_label(p, fallback="")]
ACCOUNT_LABELS = (PAYLOADS[0], PAYLOADS[4], PAYLOADS[2])  # img onerror, a href, </script>


def _hostile_managers(emu: LeelooEmulator) -> None:
    """Managers' names are typed by strangers too (the emulator's knob leaves them be)."""
    with emu.data_lock:
        for user, payload in zip(emu.data.users, (PAYLOADS[0], PAYLOADS[4], PAYLOADS[2], PAYLOADS[5]), strict=False):
            user["name"] = payload


def _hostile_channels(emu: SalebotEmulator) -> None:
    with emu.data_lock:
        for item, payload in zip((i for items in emu.channels.values() if isinstance(items, list) for i in items),
                                 PAYLOADS, strict=False):
            item["name"] = payload
            item["short_name"] = payload


@pytest.fixture(scope="module")
def hostile(isolated: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    leeloo = LeelooEmulator(seed=5, scale=60, token=LEELOO_TOKENS[None], hostile=True)
    evil = LeelooEmulator(seed=6, scale=25, token=LEELOO_TOKENS["evil"], hostile=True)
    salebot = SalebotEmulator(seed=4, scale=20, api_key=SALEBOT_KEY, knobs=SalebotKnobs(hostile=True))
    for emu in (leeloo, evil):
        _hostile_managers(emu)
    _hostile_channels(salebot)
    with leeloo.serve() as url, evil.serve() as evil_url, salebot.serve() as salebot_url:
        pipeline = load("leeloo", None, url, LEELOO_TOKENS[None])
        load("leeloo", "evil", evil_url, LEELOO_TOKENS["evil"])
        load("salebot", None, salebot_url, SALEBOT_KEY)
    # the cross-account views as the account column would carry a hostile name
    account_views(pipeline, "leeloo", [(PAYLOADS[0], "leeloo_reports"), (PAYLOADS[4], "leeloo_evil_reports")])
    reader = ReportReader(isolated / "chatfunnel.duckdb")
    accounts = [dataclasses.replace(a, label=label) for a, label in zip(discover_accounts(reader), ACCOUNT_LABELS,
                                                                         strict=True)]
    yield render_dashboard(reader, accounts=accounts)


def test_figures_carry_no_markup_but_ours(hostile: tuple[str, dict[str, Any]]) -> None:
    figures = figures_in(hostile[0])
    found = [(key, s) for figure in figures.values() for key, s in strings(figure) if "<" in OWN_TAGS.sub("", s)
             or ">" in OWN_TAGS.sub("", s)]
    assert found == [], found[:5]
    labels = [s for figure in figures.values() for _, s in strings(figure)]
    assert any("&lt;a href=&quot;" in s or '&lt;a href="https://evil.example/"&gt;' in s for s in labels)


def test_no_payload_closes_a_script_block(hostile: tuple[str, dict[str, Any]]) -> None:
    from plotly.offline import get_plotlyjs

    page = hostile[0]
    scripts = [attrs for tag, attrs in elements(page).tags if tag == "script"]
    assert [a.get("type") for a in scripts] == ["application/json", "application/json", None, None]
    assert page.lower().count("</script") == get_plotlyjs().lower().count("</script") + 4
    assert page.count("<!--") == get_plotlyjs().count("<!--")


def test_payloads_are_in_the_tunnel_table_as_typed(hostile: tuple[str, dict[str, Any]]) -> None:
    page = hostile[0]
    titles = {str(attrs.get("title")).replace("\r", "\n") for tag, attrs in elements(page).tags
              if tag == "td" and attrs.get("class") == "name"}
    for payload in VISIBLE:  # as typed: only NUL (not text in HTML) and CR (read as LF) differ
        assert payload.replace("\x00", "\ufffd").replace("\r", "\n")[:2000] in titles, payload[:40]


def _visible_texts(seen: dict[str, Any]) -> str:
    return normalized(seen["text"] + "\n" + seen["svg_text"])


def _assert_inert(seen: dict[str, Any]) -> None:
    assert seen["xss"] is None, "a payload ran a script"
    assert seen["errors"] == [], seen["errors"]
    assert seen["handlers"] == [], seen["handlers"]
    assert all(h.startswith("#") for h in seen["hrefs"]), [h for h in seen["hrefs"] if not h.startswith("#")]
    assert seen["svg_links"] == 0, "plotly made a label into a link"
    # plotly draws a heatmap as one PNG image of its own making: an inline data: URL, never a remote one
    assert all(x.split(" ", 1)[1].startswith(("#", "data:image/png;base64,")) for x in seen["xlinks"]), seen["xlinks"]
    assert seen["embedded"] == 0, "an element that loads or submits was injected"
    assert seen["styled_labels"] == 0 and seen["markup_tags"] == 0, "label markup was read as markup"
    assert seen["scripts"] == ["application/json", "application/json", "inline", "inline"], seen["scripts"]


def test_chromium_shows_payloads_as_text(hostile: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    require_chromium()
    page, summary = hostile
    path = tmp_path / "hostile.html"
    path.write_text(page, encoding="utf-8")
    with Browser(width=1400, height=1000) as browser:
        overview = probe(browser, path.as_uri())
        _assert_inert(overview)
        assert overview["csp"] == [], overview["csp"]
        for label in ACCOUNT_LABELS:
            assert normalized(plain_label(label)) in _visible_texts(overview)
        leeloo = probe(browser, f"{path.as_uri()}#account-leeloo")
        _assert_inert(leeloo)
        assert leeloo["csp"] == [], leeloo["csp"]
        assert leeloo["plots"] == len(summary["accounts"][0]["charts"])
        shown = _visible_texts(leeloo)
        for payload in VISIBLE:
            assert normalized(plain_label(payload))[:40].rstrip("…") in shown, payload[:40]
        svg = normalized(leeloo["svg_text"])
        assert 'a href="https://evil.example/">click me</a' in svg, "the link payload must read as text in a chart"
        salebot = probe(browser, f"{path.as_uri()}#account-salebot")
        _assert_inert(salebot)
        assert "<svg onload=window.__xss=1>" in normalized(salebot["svg_text"])


def test_escaping_alone_holds_without_the_policy(hostile: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    """The CSP is the second wall: with it removed, nothing runs either."""
    require_chromium()
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", hostile[0], count=1)
    assert "Content-Security-Policy" not in page
    path = tmp_path / "no-csp.html"
    path.write_text(page, encoding="utf-8")
    with Browser() as browser:
        for anchor in ("overview", "account-leeloo", "account-leeloo_evil", "account-salebot"):
            _assert_inert(probe(browser, f"{path.as_uri()}#{anchor}"))


def test_policy_stops_what_an_escaping_bug_would_let_in(hostile: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    """Markup pasted raw into the page, as a missed escape would: the policy blocks every
    handler, inline script and remote load, and the charts still draw."""
    require_chromium()
    raw = ('<img src="http://127.0.0.1:9/pixel.png" onerror="window.__xss=1">'
           "<script>window.__xss=2</script><svg onload=\"window.__xss=3\"></svg>"
           '<div onmouseover="window.__xss=4" id="bait">x</div>')
    page = hostile[0].replace("<main>", "<main>" + raw, 1)
    path = tmp_path / "raw.html"
    path.write_text(page, encoding="utf-8")
    with Browser() as browser:
        seen = probe(browser, f"{path.as_uri()}#account-leeloo")
        browser.evaluate("document.getElementById('bait').dispatchEvent(new MouseEvent('mouseover'))")
        assert browser.evaluate("window.__xss === undefined")
        directives = " ".join(seen["csp"] + browser.evaluate("window.__csp"))
    assert seen["plots"] > 0
    assert "script-src-elem" in directives and "script-src-attr" in directives and "img-src" in directives

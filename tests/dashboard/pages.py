"""Reading a rendered page back in tests: its figures, summary and tables, and what a
browser shows of it."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from typing import Any, Iterator

from tests.dashboard.browser import Browser

# what the page's own scripts leave on <html> once the page in view is drawn
DRAWN = "document.documentElement.getAttribute('data-drawn')"

# every question asked of the DOM of the page in view, in one round trip
DOM_PROBE = r"""
(function () {
  var all = Array.prototype.slice.call(document.querySelectorAll('*'));
  var handlers = [];
  all.forEach(function (el) {
    Array.prototype.forEach.call(el.attributes, function (a) {
      if (/^on/i.test(a.name)) { handlers.push(el.tagName + ' ' + a.name); }
    });
  });
  var page = document.querySelector('section.page:not([hidden])');
  var visible = Array.prototype.slice.call(document.querySelectorAll('section.page:not([hidden])'));
  return {
    xss: window.__xss === undefined ? null : String(window.__xss),
    csp: window.__csp, errors: window.__errors, handlers: handlers,
    hrefs: Array.prototype.map.call(document.querySelectorAll('[href]'),
                                    function (e) { return e.getAttribute('href'); }),
    xlinks: Array.prototype.map.call(document.querySelectorAll('[*|href]:not([href])'), function (e) {
      return e.tagName + ' ' + e.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
    }),
    svg_links: document.querySelectorAll('svg a').length,
    embedded: document.querySelectorAll('img, iframe, object, embed, form, input, frame, base, link').length,
    scripts: Array.prototype.map.call(document.querySelectorAll('script'), function (s) { return s.type || 'inline'; }),
    styled_labels: document.querySelectorAll('svg tspan[style]').length,
    markup_tags: document.querySelectorAll('b, i, em, sup, sub, u, s, svg b').length,
    page: page ? page.id : null,
    plots: visible.reduce(function (n, p) { return n + p.querySelectorAll('.js-plotly-plot').length; }, 0),
    text: visible.map(function (p) { return p.innerText; }).join('\n'),
    svg_text: visible.map(function (p) {
      return Array.prototype.map.call(p.querySelectorAll('svg text'),
                                      function (t) { return t.textContent; }).join('\n');
    }).join('\n')
  };
}())
"""


def probe(browser: Browser, url: str) -> dict[str, Any]:
    browser.open(url)
    browser.wait_for(DRAWN, timeout=60)
    result: dict[str, Any] = browser.evaluate(DOM_PROBE)
    return result


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def normalized(value: str) -> str:
    """Text as a reader sees it: no bidi controls, whitespace runs as one space."""
    return re.sub(r"\s+", " ", _BIDI.sub("", unicodedata.normalize("NFC", value))).strip()


class Elements(HTMLParser):
    """Start tags with their attributes, and the text inside chosen elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._stack: list[str] = []
        self.texts: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("br", "meta", "img", "input", "link"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop() == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._stack:
            self.texts.setdefault(self._stack[-1], []).append(data)


def elements(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, string) of every string in a figure."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v, key)
    elif isinstance(value, str):
        yield key, value


def section(html: str, element_id: str) -> str:
    """The HTML of the element with this id (a <section>), up to its closing tag."""
    start = html.index(f'id="{element_id}"')
    start = html.rindex("<section", 0, start)
    depth, pos = 0, start
    for match in re.finditer(r"<(/?)section\b", html[start:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            pos = start + match.end()
            break
    return html[start: html.index(">", pos) + 1]

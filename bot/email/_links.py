"""Links in a report's text and HTML, as a browser (or Outlook) would follow them.

Bounded: at most MAX_URLS links, each at most MAX_URL_CHARS, HTML through the pure-Python parser only up to a
per-part and a per-report budget; past those, the rest is searched for bare links.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from bot.email._limits import MAX_HTML_PARSE_CHARS, MAX_URL_CHARS, MAX_URLS, Budget, Flags
from bot.email._text import clean

_URL_IN_TEXT = re.compile(r"""https?://[^\s<>"'`\x00-\x1f\x7f]{1,8192}""", re.IGNORECASE)
_HTTP_URL = re.compile(r"https?://.", re.IGNORECASE | re.DOTALL)
_URL_TAB_OR_NEWLINE = re.compile("[\t\n\r]")
_URL_CONTROL = re.compile("[\x00-\x1f\x7f]")
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))
_URL_TRAILING_PUNCTUATION = frozenset(".,;:!?*'\"")
_URL_BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<"}
_BODY_URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "background", "poster", "data", "cite", "longdesc", "xlink:href"}
)


def trim_url(url: str) -> str:
    """Drop trailing sentence punctuation and closing brackets the URL did not open."""
    opened = {closer: url.count(opener) for closer, opener in _URL_BRACKETS.items()}
    closed = {closer: url.count(closer) for closer in _URL_BRACKETS}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in _URL_TRAILING_PUNCTUATION:
            end -= 1
        elif last in closed and closed[last] > opened[last]:
            closed[last] -= 1
            end -= 1
        else:
            break
    return url[:end]


class Links:
    """The report's http(s) links, each once, in the order found."""

    def __init__(self, flags: Flags) -> None:
        self.urls: list[str] = []
        self._seen: set[str] = set()
        self._flags = flags
        self.full = False

    def add(self, url: str) -> None:
        if self.full:
            return
        url = clean(_URL_CONTROL.sub("", url)).strip()
        if not _HTTP_URL.match(url):
            return
        if len(url) > MAX_URL_CHARS:
            url = url[:MAX_URL_CHARS]
            self._flags.add(f"a link longer than {MAX_URL_CHARS:,} characters was cut")
        if url in self._seen:
            return
        if len(self.urls) >= MAX_URLS:
            self.full = True
            self._flags.add(f"more than {MAX_URLS} links: the rest were not kept")
            return
        self._seen.add(url)
        self.urls.append(url)

    def add_attribute(self, value: str) -> None:
        # Browsers drop tabs and newlines anywhere in a URL and trim control characters and spaces.
        value = _URL_TAB_OR_NEWLINE.sub("", value).strip(_C0_AND_SPACE)
        if _HTTP_URL.match(value):
            self.add(value)
        elif "://" in value:
            self.add_text(value)

    def add_text(self, text: str, *, unescape: bool = False) -> None:
        if self.full or "://" not in text:
            return
        for match in _URL_IN_TEXT.finditer(text):
            url = trim_url(match.group())
            self.add(html.unescape(url) if unescape else url)
            if self.full:
                return


class _LinkFinder(HTMLParser):
    """Every attribute, text run and comment of an HTML part, searched for links."""

    def __init__(self, links: Links) -> None:
        super().__init__(convert_charrefs=True)
        self._links = links

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if not value:
                continue
            if name in _BODY_URL_ATTRIBUTES:
                self._links.add_attribute(value)
            elif "://" in value:  # style="background:url(...)", meta refresh content, srcset, onclick
                self._links.add_text(value)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        if "://" in data:
            self._links.add_text(data)

    def handle_comment(self, data):
        # Outlook renders conditional comments (<!--[if mso]><v:roundrect href=...>): their links are real.
        if "://" in data:
            self._links.add_text(data, unescape=True)


def search_html(text: str, links: Links, flags: Flags, budget: Budget) -> None:
    """Links of one HTML part: parsed as markup within the budget, the rest searched as text."""
    allowed = min(len(text), MAX_HTML_PARSE_CHARS, max(budget.html_chars, 0))
    budget.html_chars -= allowed
    if allowed:
        finder = _LinkFinder(links)
        try:
            # No close(): on some malformed input it is quadratic in the stdlib, and what it would add
            # (an unterminated tag or comment at the very end) is searched below as text instead.
            finder.feed(text[:allowed])
        except Exception:  # noqa: BLE001 - HTMLParser raises AssertionError on some malformed markup
            flags.add("an HTML part could not be read in full; it was searched for bare links")
        links.add_text(finder.rawdata, unescape=True)
    if allowed < len(text):
        flags.add("an HTML part was too large to read in full; the rest was searched for bare links")
        links.add_text(text[allowed:], unescape=True)

"""Making attacker text safe to show in Slack: the one home for defanging, escaping and truncation.

Every subject, sender, URL, file name and header value in a report was written by an attacker. Before
any of it reaches Slack it goes through `mrkdwn()` (for mrkdwn text objects) or `plain()` (for
plain_text objects), so that nothing in it can mention people, make a live link, or break a block limit.

Lengths are counted in UTF-16 code units: never fewer than Python characters, so a text that fits by
this count also fits Slack's limits whichever way Slack counts (and matches what its JS clients count).
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"
_ZWJ = "\u200d"

# --- length and truncation ------------------------------------------------------------------------------


def text_length(text: str) -> int:
    """Length in UTF-16 code units (an astral character such as most emoji counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut(text: str, budget: int) -> str:
    """The longest prefix of `text` whose `text_length` is at most `budget`."""
    if budget <= 0:
        return ""
    if len(text) * 2 <= budget:
        return text
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            return text[:index]
    return text


def truncate(text: str, limit: int) -> str:
    """Cut `text` on a character boundary so that it fits in `limit`, ending with "…" when cut."""
    if limit <= 0:
        return ""
    if text_length(text) <= limit:
        return text
    return _cut(text, limit - 1) + ELLIPSIS


_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def truncate_mrkdwn(text: str, limit: int, *, force_ellipsis: bool = False) -> str:
    """`truncate` for escaped mrkdwn: never leaves half an `&amp;` behind.

    `force_ellipsis` marks a cut made earlier (the input was already a bounded prefix).
    """
    if limit <= 0:
        return ""
    if text_length(text) <= limit and not force_ellipsis:
        return text
    head = _cut(text, limit - 1)
    head = _PARTIAL_ENTITY.sub("", head)
    return head + ELLIPSIS


# --- control characters and lines -----------------------------------------------------------------------

# Bidirectional embeddings, overrides and isolates reorder what a reader sees ("invoice\u202efdp.exe"
# shows as "invoiceexe.pdf"); the rest of the format characters are harmless and kept.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u0085\u2028\u2029\v\f]")


def strip_controls(text: str) -> str:
    """Remove control and bidi-override characters; keep newlines (as "\\n") and turn tabs into spaces."""
    text = _LINE_BREAKS.sub("\n", text).replace("\t", " ")
    return "".join(
        ch for ch in text if ch == "\n" or (unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    )


_WHITESPACE_RUN = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space, for one-line fields."""
    return _WHITESPACE_RUN.sub(" ", strip_controls(text)).strip()


# --- escaping -------------------------------------------------------------------------------------------

_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


def neutralise_broadcasts(text: str) -> str:
    """`@channel`, `@here`, `@everyone` with a zero-width joiner after the "@", so they never notify."""
    return _BROADCAST.sub("@" + _ZWJ, text)


def escape_mrkdwn(text: str) -> str:
    """Escape `&`, `<`, `>` as Slack requires, so `<!channel>`, `<@U123>` and `<https://x|y>` stay text.

    Also neutralises `@channel`/`@here`/`@everyone` and strips control characters.
    """
    text = strip_controls(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return neutralise_broadcasts(text)


# --- defanging ------------------------------------------------------------------------------------------

_DOTS = re.compile(r"[.\u3002\uff0e\uff61]")  # IDNA treats the ideographic full stops as dots too
_SCHEMES = {"http": "hxxp", "https": "hxxps", "ftp": "fxp", "hxxp": "hxxp", "hxxps": "hxxps", "fxp": "fxp"}
_SCHEME_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]{0,30}):(//)?")
_AUTHORITY_END = re.compile(r"[/?#\\]")
_PORT = re.compile(r":\d*$")

# Endings that look like a TLD to the bare-domain pattern but are not delegated TLDs, so that
# "invoice.pdf", Authentication-Results' "header.from" and the Graph permission a responder must grant
# ("ThreatSubmission.ReadWrite.All") stay readable. Anything not listed is defanged (".zip", ".mov", ".app" and
# ".read" are real TLDs, so "Mail.Read" stays bracketed): over-defanging is harmless, a live link is not.
_NOT_TLDS = frozenset(
    {
        "from", "mailfrom", "helo",
        "all", "readwrite",
        "asp", "aspx", "bat", "bin", "bmp", "cfg", "cgi", "cmd", "csv", "dat", "dll", "doc", "docm", "docx",
        "eml", "exe", "gif", "gz", "hta", "htm", "html", "img", "ini", "iso", "jar", "jpeg", "jpg", "js",
        "json", "jsp", "lnk", "log", "msg", "msi", "odt", "ods", "pdf", "php", "png", "ppt", "pptx", "rar",
        "rtf", "scr", "svg", "tar", "tmp", "txt", "vbs", "wsf", "xls", "xlsm", "xlsx", "xml",
    }
)  # fmt: skip


_UNBRACKETED_DOTS = re.compile(r"(?<!\[)[.\u3002\uff0e\uff61](?!\])")


def _bracket_dots(host: str) -> str:
    return _UNBRACKETED_DOTS.sub("[.]", host)


def _is_label_text(label: str) -> bool:
    # A decoded IDN label holds letters, digits, marks and hyphens only; anything else is a crafted
    # punycode string that would let the "decoded" name smuggle "/", ":" or "<" into the card.
    return bool(label) and all(
        ch == "-" or ch.isalnum() or unicodedata.category(ch).startswith("M") for ch in label
    )


def _decode_label(label: str) -> str | None:
    try:
        decoded = label.encode("ascii").decode("idna")
    except (UnicodeError, ValueError):
        try:
            decoded = label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            return None
    return decoded if _is_label_text(decoded) else None


def _encode_label(label: str) -> str | None:
    try:
        return label.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        try:
            return "xn--" + label.encode("punycode").decode("ascii")
        except (UnicodeError, ValueError):
            return None


def _host_forms(host: str) -> tuple[str, str | None]:
    """(ASCII form, Unicode form or None) of a host name; the ASCII form is what DNS resolves."""
    labels = _DOTS.split(host)
    if all(label.isascii() for label in labels):
        if not any(label.lower().startswith("xn--") for label in labels):
            return host, None
        decoded = []
        for label in labels:
            if label.lower().startswith("xn--"):
                unicode_label = _decode_label(label)
                if unicode_label is None:
                    return host, None
                decoded.append(unicode_label)
            else:
                decoded.append(label)
        return host, ".".join(decoded)
    encoded = []
    for label in labels:
        ascii_label = label if label.isascii() else _encode_label(label)
        if ascii_label is None:
            return host, None
        encoded.append(ascii_label)
    unicode_host = host if all(_is_label_text(label) or label.isascii() for label in labels) else None
    return ".".join(encoded), unicode_host


def host_forms(host: str) -> tuple[str, str | None]:
    """(ASCII form, Unicode form) of an internationalised host name; (host, None) for any other host.
    Never raises; a crafted punycode label that decodes to more than letters and digits gives None."""
    if not host or host.startswith("["):
        return host, None
    try:
        return _host_forms(host)
    except Exception:  # noqa: BLE001 - codecs on attacker text: "no second form" is the safe answer
        return host, None


def _defang_host(host: str) -> tuple[str, str | None]:
    if host.startswith("["):  # an IPv6 literal has no dots to break and is not auto-linked
        return host, None
    ascii_host, unicode_host = _host_forms(host)
    return _bracket_dots(ascii_host), (_bracket_dots(unicode_host) if unicode_host else None)


def defang_url(url: str) -> str:
    """`https://evil.example/a` -> `hxxps://evil[.]example/a`.

    Scheme to hxxp/hxxps (other schemes get `[:]`), every dot of the host bracketed, `@` of the
    userinfo as `[@]`, URLs and domains inside the path defanged too. An IDN host is shown both ways:
    `hxxps://xn--80ak6aa92e[.]com (аррӏе[.]com)`. Never raises.
    """
    rest = url.strip()
    scheme_match = _SCHEME_PREFIX.match(rest)
    prefix = ""
    if scheme_match:
        if not scheme_match.group(2):  # "mailto:a@b.c", or a "host:port" that only looks like a scheme
            return defang_text(rest)
        prefix = _defang_scheme(scheme_match.group(0))
        rest = rest[scheme_match.end() :]
    end = _AUTHORITY_END.search(rest)
    authority, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    userinfo, _, hostport = authority.rpartition("@")
    port_match = _PORT.search(hostport) if not hostport.endswith("]") else None
    host, port = (hostport[: port_match.start()], port_match.group(0)) if port_match else (hostport, "")
    shown_host, unicode_host = _defang_host(host)
    shown_userinfo = _defang_inner(userinfo) + "[@]" if userinfo else ""
    shown = _break_residual_schemes(prefix + shown_userinfo + shown_host + port + _defang_inner(tail))
    return f"{shown} ({unicode_host})" if unicode_host else shown


def _defang_scheme(prefix: str) -> str:
    scheme = prefix.split(":", 1)[0]
    return _SCHEMES[scheme.lower()] + "://" if scheme.lower() in _SCHEMES else scheme + "[:]//"


_LABEL = r"[^\W_](?:[\w\-]{0,61}[^\W_])?"
_DOT = r"[.\u3002\uff0e\uff61]"
_IP = r"(?P<ip>(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]))"
_DOMAIN = rf"(?P<domain>(?<![\w.\-])(?:{_LABEL}{_DOT})+{_LABEL}(?![\w\-]|{_DOT}\w))"
_LINKISH = re.compile(rf"(?P<url>\b[A-Za-z][A-Za-z0-9+.\-]{{0,30}}://[^\s<>\"'`|{{}}^]*)|{_IP}|{_DOMAIN}")
# Inside a URL's path a nested URL is not parsed again (that would recurse without bound on
# "https://https://..."): its scheme is broken and its host caught by the domain pattern.
_INNER_LINKISH = re.compile(rf"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]{{0,30}}://)|{_IP}|{_DOMAIN}")
_TRAILING_PUNCTUATION = ".,;:!?'\")]}"


def _split_trailing(url: str) -> tuple[str, str]:
    end = len(url)
    while end and url[end - 1] in _TRAILING_PUNCTUATION:
        if url[end - 1] == ")" and url[:end].count("(") >= url[:end].count(")"):
            break
        end -= 1
    return url[:end], url[end:]


def _looks_like_domain(candidate: str) -> bool:
    tld = _DOTS.split(candidate)[-1]
    if tld.lower().startswith("xn--"):
        return True
    # Only ASCII TLDs: "Привет.Как" in a Russian subject is a missing space, not a host name.
    return tld.isascii() and tld.isalpha() and len(tld) >= 2 and tld.lower() not in _NOT_TLDS


def _defang_address(match: re.Match[str]) -> str:
    if match.group("ip"):
        return _bracket_dots(match.group("ip"))
    candidate = match.group("domain")
    if not _looks_like_domain(candidate):
        return candidate
    if match.end() < len(match.string) and match.string[match.end()] == "@":
        return candidate  # the local part of an address ("first.last@"), not a host
    shown, unicode_host = _defang_host(candidate)
    return f"{shown} ({unicode_host})" if unicode_host else shown


def _defang_match(match: re.Match[str]) -> str:
    if match.group("url"):
        url, trailing = _split_trailing(match.group("url"))
        return defang_url(url) + trailing
    return _defang_address(match)


def _defang_inner_match(match: re.Match[str]) -> str:
    if match.group("scheme"):
        return _defang_scheme(match.group("scheme"))
    return _defang_address(match)


def _defang_inner(text: str) -> str:
    return _INNER_LINKISH.sub(_defang_inner_match, text)


# A scheme glued to the end of a word longer than the scheme pattern allows ("aaaa…ahttps://"), or
# one that parsed as a host ("https://https://…"), escapes the passes above; this last pass
# guarantees that no live web scheme survives in any case.
_RESIDUAL_SCHEME = re.compile(r"(?i)(https?|ftp)(?=://)")


def _break_residual_schemes(text: str) -> str:
    return _RESIDUAL_SCHEME.sub(lambda match: _SCHEMES[match.group(1).lower()], text)


def defang_text(text: str) -> str:
    """Defang every URL-looking substring, IPv4 address and bare domain with a TLD in running text."""
    return _break_residual_schemes(_LINKISH.sub(_defang_match, text))


# --- the compositions the cards use ---------------------------------------------------------------------


def _bounded_input(text: str, limit: int) -> tuple[str, bool]:
    # Work on a bounded prefix so a 1 MB note costs no more than a short one; escaping and
    # defanging only lengthen text, so a prefix this long still fills `limit` when it matters.
    bound = 4 * max(limit, 0) + 256
    if len(text) > bound:
        return text[:bound], True
    return text, False


def mrkdwn(text: str | None, limit: int, *, multiline: bool = False) -> str:
    """Attacker text -> safe mrkdwn: one line (unless `multiline`), defanged, escaped, at most `limit`."""
    raw, cut = _bounded_input(text or "", limit)
    raw = strip_controls(raw) if multiline else one_line(raw)
    return truncate_mrkdwn(escape_mrkdwn(defang_text(raw)), limit, force_ellipsis=cut)


def plain(text: str | None, limit: int, *, multiline: bool = False) -> str:
    """Attacker text -> safe plain_text: one line (unless `multiline`), defanged, at most `limit`."""
    raw, cut = _bounded_input(text or "", limit)
    raw = strip_controls(raw) if multiline else one_line(raw)
    shown = neutralise_broadcasts(defang_text(raw))
    if cut and text_length(shown) <= limit:
        return _cut(shown, limit - 1) + ELLIPSIS
    return truncate(shown, limit)


def code(text: str | None, limit: int) -> str:
    """Attacker text for a mrkdwn `code` span: backticks can't close our span early; empty -> ""."""
    inner = mrkdwn((text or "").replace("`", "'"), max(limit - 2, 0))
    return f"`{inner}`" if inner else ""

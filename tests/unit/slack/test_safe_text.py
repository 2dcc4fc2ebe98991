"""bot.slack.safe_text: attacker text in, text that can't mention, link or overflow out."""

from __future__ import annotations

import re

import pytest

from bot.slack.safe_text import (
    ELLIPSIS,
    code,
    defang_text,
    defang_url,
    escape_mrkdwn,
    mrkdwn,
    one_line,
    plain,
    strip_controls,
    text_length,
    truncate,
    truncate_mrkdwn,
)

LIVE_SCHEME = re.compile(r"(?i)\b(?:https?|ftp)://")
ZWJ = "\u200d"


# --- defang_url -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://evil.example/a", "hxxps://evil[.]example/a"),
        ("http://evil.example", "hxxp://evil[.]example"),
        ("HTTPS://Login.Evil.Example/x", "hxxps://Login[.]Evil[.]Example/x"),
        ("https://paypal.com@evil.example/", "hxxps://paypal[.]com[@]evil[.]example/"),
        ("https://user:pw@evil.example:8443/p?q=1#f", "hxxps://user:pw[@]evil[.]example:8443/p?q=1#f"),
        ("https://10.0.0.1/admin", "hxxps://10[.]0[.]0[.]1/admin"),
        ("https://[2001:db8::1]:443/x", "hxxps://[2001:db8::1]:443/x"),
        ("ftp://files.evil.example/a.exe", "fxp://files[.]evil[.]example/a.exe"),
        ("ws://evil.example/", "ws[:]//evil[.]example/"),
        ("evil.example/path", "evil[.]example/path"),
        ("evil.example:8080/path", "evil[.]example:8080/path"),
        ("mailto:ceo@evil.example", "mailto:ceo@evil[.]example"),
        ("hxxps://evil[.]example/a", "hxxps://evil[.]example/a"),  # already defanged: unchanged
    ],
)
def test_defang_url(url, expected):
    assert defang_url(url) == expected


def test_defang_url_shows_punycode_hosts_both_ways():
    assert defang_url("https://xn--80ak6aa92e.com") == "hxxps://xn--80ak6aa92e[.]com (аррӏе[.]com)"
    # A Unicode host is shown as what DNS resolves first, and as written second.
    assert defang_url("https://аррӏе.com/login") == "hxxps://xn--80ak6aa92e[.]com/login (аррӏе[.]com)"


def test_defang_url_tolerates_undecodable_punycode():
    assert defang_url("https://xn--zz!!.example/") == "hxxps://xn--zz!![.]example/"
    # Punycode can decode to "/" or ":"; such a label is not shown "decoded" at all.
    crafted = "xn--" + "a/b:c".encode("punycode").decode("ascii")
    assert "(" not in defang_url(f"https://{crafted}.example/")


def test_defang_url_defangs_urls_nested_in_the_path():
    shown = defang_url("https://redirect.example/?to=https://evil.example/login")
    assert shown == "hxxps://redirect[.]example/?to=hxxps://evil[.]example/login"


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "://",
        "https://",
        "https://https://https://evil.example",
        "https://" * 5000,
        "http://[::1",
        "https://%zz%.example",
        "https://evil.example\\@good.example",
        "https://a" + ".a" * 5000,
        "https://\u202eevil.example",
        "javascript:alert(1)",
        "https://xn--.example",
        "https://ⅹn--80ak6aa92e.com",
    ],
)
def test_defang_url_never_raises_and_never_leaves_a_live_scheme(hostile):
    shown = defang_url(hostile)
    assert not LIVE_SCHEME.search(shown)


# --- defang_text ----------------------------------------------------------------------------------------


def test_defang_text_in_running_text():
    text = "Pay at https://evil.example/pay, or visit www.evil.example. Mail first.last@evil.example from 10.0.0.1"
    assert defang_text(text) == (
        "Pay at hxxps://evil[.]example/pay, or visit www[.]evil[.]example. "
        "Mail first.last@evil[.]example from 10[.]0[.]0[.]1"
    )


def test_defang_text_keeps_file_names_and_plain_words_readable():
    text = "Q3 invoice.pdf and report.docx, v1.2.3, Привет.Как"
    assert defang_text(text) == text


def test_defang_text_defangs_real_tlds_that_look_like_file_extensions():
    assert defang_text("open invoice.zip") == "open invoice[.]zip"


def test_defang_text_keeps_graph_permissions_readable_but_not_a_real_tld_among_them():
    assert defang_text("grant ThreatSubmission.ReadWrite.All") == "grant ThreatSubmission.ReadWrite.All"
    # .read is a delegated TLD: an attacker's "login.read" must not become a live link for a permission's sake.
    assert defang_text("see login.read/x") == "see login[.]read/x"


def test_defang_text_bare_idn_domain():
    assert defang_text("see аррӏе.com now") == "see xn--80ak6aa92e[.]com (аррӏе[.]com) now"


def test_defang_text_catches_a_scheme_glued_to_a_long_word():
    shown = defang_text("a" * 40 + "https://evil.example/")
    assert not LIVE_SCHEME.search(shown)
    assert "evil[.]example" in shown


def test_defang_text_is_idempotent():
    once = defang_text("go to https://a.example/x and b.example or 1.2.3.4")
    assert defang_text(once) == once


# --- escaping -------------------------------------------------------------------------------------------


def test_escape_mrkdwn_makes_slack_markup_inert():
    escaped = escape_mrkdwn("<!channel> <@U123> <https://x.example|fake> a & b")
    assert escaped == "&lt;!channel&gt; &lt;@U123&gt; &lt;https://x.example|fake&gt; a &amp; b"
    assert "<" not in escaped and ">" not in escaped


def test_escape_mrkdwn_does_not_unescape_entities_the_attacker_wrote():
    assert escape_mrkdwn("&lt;!here&gt;") == "&amp;lt;!here&amp;gt;"


@pytest.mark.parametrize("broadcast", ["@channel", "@here", "@everyone", "@Channel", "@HERE"])
def test_escape_mrkdwn_neutralises_broadcasts(broadcast):
    escaped = escape_mrkdwn(f"hi {broadcast}!")
    assert broadcast not in escaped
    assert escaped == f"hi @{ZWJ}{broadcast[1:]}!"


def test_escape_mrkdwn_leaves_ordinary_addresses_alone():
    assert escape_mrkdwn("ann@channelpartners.example") == "ann@channelpartners.example"


def test_strip_controls_removes_control_and_bidi_characters():
    assert (
        strip_controls("a\x00b\x1bc\x7fd\x85e\u202efdp.exe\u2066x") == "ab" + "c" + "d\ne" + "fdp.exe" + "x"
    )
    assert strip_controls("line1\r\nline2\tend") == "line1\nline2 end"


def test_one_line_collapses_newlines_and_runs_of_space():
    assert one_line("  Urgent:\r\n\n  pay\u2028now \t ") == "Urgent: pay now"


# --- truncation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 5, 150, 3000])
def test_truncate_never_exceeds_the_limit(limit):
    for text in ["x" * 5000, "😀" * 5000, "a😀" * 5000, "é" * 5000]:
        shown = truncate(text, limit)
        assert text_length(shown) <= limit
        assert shown.endswith(ELLIPSIS)


def test_truncate_leaves_short_text_alone_and_counts_astral_characters_twice():
    assert truncate("hello", 5) == "hello"
    assert truncate("hello!", 5) == "hell" + ELLIPSIS
    assert text_length("😀") == 2
    assert truncate("😀😀😀", 5) == "😀😀" + ELLIPSIS
    assert truncate("anything", 0) == ""


def test_truncate_mrkdwn_never_leaves_half_an_entity():
    escaped = escape_mrkdwn("a" * 8 + "&" * 10)  # "aaaaaaaa&amp;&amp;..."
    for limit in range(9, 20):
        shown = truncate_mrkdwn(escaped, limit)
        assert text_length(shown) <= limit
        assert re.fullmatch(r"a{1,8}(&amp;)*…", shown), shown


# --- compositions ---------------------------------------------------------------------------------------


def test_mrkdwn_composes_one_line_defang_escape_truncate():
    shown = mrkdwn("Invoice\n<https://evil.example|Microsoft> @here", 200)
    assert shown == f"Invoice &lt;hxxps://evil[.]example|Microsoft&gt; @{ZWJ}here"


def test_mrkdwn_multiline_keeps_lines():
    assert mrkdwn("a\nb <!here>", 100, multiline=True) == "a\nb &lt;!here&gt;"


def test_mrkdwn_bounds_huge_input_and_marks_the_cut():
    shown = mrkdwn("x " * 600_000, 3000)  # 1.2 MB that collapses to less than it started as
    assert text_length(shown) <= 3000
    assert shown.endswith(ELLIPSIS)
    assert mrkdwn(None, 10) == ""


def test_plain_defangs_but_does_not_escape():
    assert plain("Tom & Jerry <b> https://evil.example @channel", 100) == (
        f"Tom & Jerry <b> hxxps://evil[.]example @{ZWJ}channel"
    )
    assert text_length(plain("y" * 10_000, 150)) <= 150


def test_code_span_cannot_be_closed_by_the_attacker():
    assert code("abc`def", 20) == "`abc'def`"
    assert code("", 20) == ""
    assert text_length(code("z" * 100, 20)) <= 20

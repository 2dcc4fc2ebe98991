"""`phishbot parse FILE [--json]`: what an analyst reads from each shared sample email, exit codes, and the
text form."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from msgfile import MsgAttachment, MsgMessage, build_msg

from bot.cli import main

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "emails"
SAMPLES = ROOT / "bot" / "sandbox" / "samples"
KEYS = {
    "message_id", "subject", "from", "reply_to", "return_path", "to", "date", "auth", "urls",
    "attachments", "inner", "warnings",
}  # fmt: skip

GMAIL_PASS = {"spf": "pass", "dkim": "pass", "dmarc": "pass", "compauth": None}
GMAIL_NO_DMARC = {"spf": "pass", "dkim": "pass", "dmarc": None, "compauth": None}

# What a careful analyst reads from each sample: sender, authentication as the receiving server stamped it,
# and every link (tracking pixels included: they tell who opened the mail).
EXPECTED = {
    "emls_amazon_phish_url_shortener.eml": {
        "from": "billingservices.amazon.com@gmail.com",  # "Amazon" from a free-mail address
        "auth": GMAIL_PASS,  # authentication passes: it is a real Gmail account, not Amazon
        "urls": ["https://bit.ly/33p6BKD"],  # the link hides behind a shortener
        "pixel": "https://r.superhuman.com/",
    },
    "emls_bec_ceo_impersonation.eml": {
        "from": "joshkamdjou90@gmail.com",
        "auth": GMAIL_PASS,
        "urls": [],  # BEC: no link, no attachment, just a request
    },
    "emls_fedex_brand_impersonation.eml": {
        "from": "trackingupdates@deliver-fedex.com",
        "auth": GMAIL_NO_DMARC,  # the look-alike domain publishes no DMARC policy
        "urls": [
            "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=124796864833&language=en"
            "&opco=FDEG&clientype=ivother",
            "https://drive.google.com/file/d/1qtm5hdD1b-Z4XPhkvoWHH72jbQaJyRu8/view?usp=sharing",
            "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=1247968644545833&language=en"
            "&opco=FDEG&clientype=ivother",
            "http://fedex.com/",
        ],
    },
    "emls_punycode_robinhood.eml": {
        "from": "support@xn--robnhood-e2a.com",
        "auth": GMAIL_NO_DMARC,
        "urls": ["https://rob\u00ednhood.com/contact", "https://robinhood.com/"],
        "idn": [{"ascii": "xn--robnhood-e2a.com", "unicode": "rob\u00ednhood.com"}],
    },
    "emls_reported_phish.eml": {
        "from": "ianthiel74@gmail.com",
        "auth": GMAIL_PASS,
        "urls": ["https://docs.google.com/document/d/17i65HNqXrfLkzu7iRziIOl7KucYY7Mud3U40IZD2d5k/edit"],
        "pixel": "https://r.superhuman.com/",
    },
    "emls_twitter_phish.eml": {
        "from": "no-reply@abuse-twitter.com",
        "auth": GMAIL_NO_DMARC,
        "urls": ["https://bit.ly/33p6BKD"],
        "pixel": "https://r.superhuman.com/",
    },
    "tutorial-files_1-intro_impersonation.eml": {
        "from": "joshkamdjou90@gmail.com",
        "auth": GMAIL_PASS,
        "urls": [],
    },
    "tutorial-files_3-write_office365_covid_phish.eml": {
        "from": "rachael@tyrellcorp.io",  # display name "HR tyrellcorp <noreply@tyrellcorp.io>": a disguise
        "auth": {
            "spf": "none",
            "dkim": "none",
            "dmarc": "none",
            "compauth": "none",
        },  # Exchange Online's stamp
        "urls": [
            "http://image.email.microsoftonline.com/lib/fe95157074600c7e7c/m/1/33520_LogoOrange_Office_160.png",
            "https://configwxrrweeewxx00wfxrrxprw2e.fra1.cdn.digitaloceanspaces.com/index.htm"
            "?=en-US&username=rachael@tyrellcorp.io",
            "http://image.email.microsoftonline.com/lib/fe95157074600c7e7c/m/1/33520_Logo_Microsoft_Grey_100x22.png",
        ],
    },
}


@pytest.fixture(autouse=True)
def no_log_handlers_left_by_other_tests(monkeypatch):
    # `phishbot parse` configures no logging; a handler another test left on a closed stream must not
    # write its "--- Logging error ---" into this one's stderr.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["parse", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_shared_sample_is_covered():
    assert sorted(p.name for p in FIXTURES.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_json_gives_what_an_analyst_reads(capsys, name):
    code, out, err = run(capsys, str(FIXTURES / name), "--json")
    assert code == 0 and err == ""
    assert out.count("\n") == 1  # exactly one JSON object
    report = json.loads(out)
    assert KEYS <= set(report)
    expected = EXPECTED[name]
    assert [a["address"] for a in report["from"]] == [expected["from"]]
    assert report["auth"] == expected["auth"]
    if "pixel" in expected:
        assert report["urls"][: len(expected["urls"])] == expected["urls"]
        assert [
            u for u in report["urls"][len(expected["urls"]) :] if not u.startswith(expected["pixel"])
        ] == []
    else:
        assert report["urls"] == expected["urls"]
    assert report["idn_hosts"] == expected.get("idn", [])
    assert report["attachments"] == [] and report["inner"] is None and report["warnings"] == []
    assert report["message_id"] and report["date"]


def test_the_office365_sample_shows_exchange_online_results_and_antispam(capsys):
    _, out, _ = run(capsys, str(FIXTURES / "tutorial-files_3-write_office365_covid_phish.eml"), "--json")
    report = json.loads(out)
    assert report["return_path"] == "root@vps.server.com"
    assert report["from"][0]["name"] == "HR tyrellcorp <noreply@tyrellcorp.io>"
    assert report["antispam"]["SCL"] == "-1" and report["antispam"]["SFV"] == "SKN"
    assert report["authentication_results"][3] == {
        "method": "compauth",
        "result": "none",
        "reason": "905",
        "authserv_id": "",
        "trusted": True,
    }


def test_a_wrapped_report_shows_the_original_in_inner(capsys):
    code, out, _ = run(capsys, str(SAMPLES / "forwarded-phish.eml"), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["subject"] == "FW: Your mailbox is almost full"
    inner = report["inner"]
    assert inner["subject"] == "Your mailbox is almost full" and inner["inner"] is None
    assert inner["auth"]["spf"] == "pass" and inner["auth"]["dmarc"] is not None
    assert [a["filename"] for a in report["attachments"]] == ["Your mailbox is almost full.eml"]
    assert {"filename", "content_type", "size", "sha256"} <= set(report["attachments"][0])


def test_attachments_in_json(capsys):
    _, out, _ = run(capsys, str(SAMPLES / "invoice-malware.eml"), "--json")
    attachments = json.loads(out)["attachments"]
    assert attachments and all(len(a["sha256"]) == 64 and a["size"] > 0 for a in attachments)


def test_a_msg_file(capsys, tmp_path):
    path = tmp_path / "report.msg"
    phish = MsgMessage(
        subject="Verify now",
        body="https://verify.evil.example/x",
        sender_address="a@evil.example",
        message_id="<p@evil.example>",
        transport_headers="Authentication-Results: spf=fail smtp.mailfrom=evil.example\r\n"
        "From: a@evil.example\r\nSubject: Verify now\r\nMessage-ID: <p@evil.example>\r\n",
    )
    path.write_bytes(
        build_msg(
            MsgMessage(
                subject="FW: Verify now",
                body="look",
                sender_address="me@contoso.example",
                attachments=[MsgAttachment("Verify now.msg", embedded=phish)],
            )
        )
    )
    code, out, _ = run(capsys, str(path), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["inner"]["message_id"] == "p@evil.example"
    assert report["inner"]["urls"] == ["https://verify.evil.example/x"]
    assert report["inner"]["auth"]["spf"] == "fail"
    assert "converted from an Outlook .msg file" in report["warnings"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n" + b"\x00" * 100, "doesn't look like an email"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "Outlook .msg"),
    ],
    ids=["empty", "pdf", "damaged-msg"],
)
def test_not_an_email_exits_2_with_one_line(capsys, tmp_path, content, words):
    path = tmp_path / "x.eml"
    path.write_bytes(content)
    for extra in ((), ("--json",)):
        code, out, err = run(capsys, str(path), *extra)
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and words in err


def test_a_missing_file_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, str(tmp_path / "nope.eml"))
    assert code == 2 and out == "" and err.count("\n") == 1


def test_text_form_defangs_links_and_marks_untrusted_results(capsys):
    code, out, _ = run(capsys, str(SAMPLES / "credential-phish.eml"))
    assert code == 0
    assert "hxxps://login-micros0ft-secure[.]example/common/oauth2/authorize" in out
    assert "https://" not in out
    assert "[not the receiver's: could be forged]" in out
    assert "Auth          spf=fail dkim=none dmarc=fail compauth=fail" in out


def test_the_installed_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "parse", "--json", str(FIXTURES / "emls_twitter_phish.eml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == "Your account is locked"

"""Downloading a reported file from Slack: the bot token only goes to Slack, Slack's HTML sign-in page is
recognised for what it is, and sizes are bounded before and during the download."""

from __future__ import annotations

import httpx
import pytest

from bot.slack.errors import ReportProblem
from bot.slack.files import SlackFiles

EML = b"From: a@example.com\r\nSubject: hi\r\nMessage-ID: <1@example.com>\r\n\r\nbody\r\n"


@pytest.fixture
def http():
    with httpx.Client(timeout=10) as client:
        yield client


def files_for(slack, http, *, token=None, max_bytes=1024 * 1024) -> SlackFiles:
    return SlackFiles(token=token or slack.bot_token, api_url=slack.api_url, http=http, max_bytes=max_bytes)


def test_the_bot_token_downloads_the_file(slack, http):
    file = slack.add_file("U0ALICE01", "a.eml", EML, mimetype="message/rfc822")
    assert files_for(slack, http).download(file) == EML


def test_slacks_sign_in_page_is_not_taken_for_the_file(slack, http):
    file = slack.add_file("U0ALICE01", "a.eml", EML, mimetype="message/rfc822")
    with pytest.raises(ReportProblem, match="files:read"):
        files_for(slack, http, token="xoxb-not-the-right-token").download(file)


def test_a_file_declared_too_large_is_refused_without_downloading(slack, http):
    file = slack.add_file("U0ALICE01", "big.eml", EML * 100, mimetype="message/rfc822")
    before = len(slack.calls)
    with pytest.raises(ReportProblem, match="largest report accepted"):
        files_for(slack, http, max_bytes=len(EML)).download(file)
    assert len(slack.calls) == before


def test_a_file_larger_than_it_claims_is_cut_off(slack, http):
    file = slack.add_file("U0ALICE01", "big.eml", EML * 100, mimetype="message/rfc822")
    lying = {**file, "size": 10}
    with pytest.raises(ReportProblem, match="larger than"):
        files_for(slack, http, max_bytes=len(EML) * 2).download(lying)


@pytest.mark.parametrize(
    "url", ["https://evil.example/files-pri/T1-F1/download/a.eml", "file:///etc/passwd", "", None]
)
def test_the_token_never_goes_to_another_host(slack, url):
    def refuse(request):
        raise AssertionError(f"a request was sent to {request.url}")

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(ReportProblem):
            files_for(slack, client).download({"name": "a.eml", "size": 10, "url_private_download": url})


def test_slack_refusing_the_download_is_explained(slack, http):
    file = slack.add_file("U0ALICE01", "a.eml", EML, mimetype="message/rfc822")
    slack.fail_next("file_download", status=500)
    with pytest.raises(ReportProblem, match="HTTP 500"):
        files_for(slack, http).download(file)

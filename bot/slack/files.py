"""Downloading a file someone shared in Slack (a reported .eml): bounded, authenticated, and checked.

File downloads do not go through WebClient: they are a GET of `url_private_download` with the bot token.
Slack answers a bad or missing token with status 200 and an HTML sign-in page, so the body is checked, not
only the status. The token is only ever sent to the Slack API's own host.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

from bot.email import is_outlook_msg, looks_like_email
from bot.slack.errors import ReportProblem

log = logging.getLogger(__name__)

_HTML_STARTS = (b"<!doctype html", b"<html", b"<!--", b"<head")


class SlackFiles:
    def __init__(self, *, token: str, api_url: str, http: httpx.Client, max_bytes: int) -> None:
        self._token = token
        self._http = http
        self._max_bytes = max_bytes
        api_host = urlsplit(api_url).hostname or ""
        # files.slack.com serves downloads for slack.com; an emulator or proxy serves them on its own host.
        self._trusted_hosts = {api_host, "files.slack.com", "files-origin.slack.com", "slack-files.com"}

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def download(self, file: dict) -> bytes:
        """The file's bytes, or ReportProblem with words for the reporter."""
        name = str(file.get("name") or "the file")
        size = file.get("size")
        if isinstance(size, int) and size > self._max_bytes:
            raise ReportProblem("file.too_large", name=name, size=_mb(size), limit=_mb(self._max_bytes))
        url = file.get("url_private_download") or file.get("url_private")
        if not isinstance(url, str) or not url:
            raise ReportProblem("file.no_download", name=name)
        body, content_type = self._fetch(url, name)
        if _is_html(body, content_type):
            # Slack's sign-in page: the token was not accepted for this file.
            log.error("file download returned Slack's HTML sign-in page: check the bot token and files:read")
            raise ReportProblem("file.sign_in_page", name=name)
        return body

    def email_copy(self, url: object) -> bytes | None:
        """What Slack serves at `url` (an Email-app file or one of its attachments) when that is an email
        (RFC 822 or Outlook .msg); None for anything else. What these downloads return is not documented:
        an HTML rendering, or a sign-in page, is never taken for the email."""
        if not isinstance(url, str) or not url:
            return None
        try:
            body, content_type = self._fetch(url, "the email")
        except ReportProblem as problem:
            log.info("no email copy from Slack: %s", problem)
            return None
        if _is_html(body, content_type) or not (looks_like_email(body) or is_outlook_msg(body)):
            log.info("Slack's copy of an emailed file is not RFC 822 (%s)", content_type.split(";")[0] or "?")
            return None
        return body

    def _fetch(self, url: str, name: str) -> tuple[bytes, str]:
        host = urlsplit(url).hostname or ""
        if urlsplit(url).scheme not in {"https", "http"} or host not in self._trusted_hosts:
            log.warning("refusing to send the bot token to %s for a file download", host)
            raise ReportProblem("file.download_failed", name=name)
        chunks: list[bytes] = []
        received = 0
        try:
            with self._http.stream(
                "GET", url, headers={"Authorization": f"Bearer {self._token}"}, follow_redirects=False
            ) as response:
                if response.status_code != 200:
                    log.warning("file download answered HTTP %s", response.status_code)
                    raise ReportProblem("file.refused", name=name, status=response.status_code)
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > self._max_bytes:
                        raise ReportProblem("file.larger_than", name=name, limit=_mb(self._max_bytes))
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            log.warning("file download failed: %s", type(exc).__name__)
            raise ReportProblem("file.download_failed", name=name) from None
        return b"".join(chunks), content_type


def _is_html(body: bytes, content_type: str) -> bool:
    head = body[:512].lstrip().lower()
    return content_type.startswith("text/html") and head.startswith(_HTML_STARTS)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"

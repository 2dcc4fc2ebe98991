"""`phishbot parse FILE [--json]`: the parser's reading of one .eml or .msg, for an analyst (and for anyone
checking the parser).

`--json` prints exactly one JSON object (`analysis()`); without it, the same as lines a person reads, links
defanged. Exit code 0 for anything read as email (what could not be read is listed in `warnings`), 2 with
one line on standard error for input that is not email (or no file). Nothing in the file is opened or
fetched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from bot.domain import Address, AuthResult, ReportedMessage
from bot.email.parsing import DEFAULT_MAX_BYTES, ParseError, parse_message
from bot.slack.safe_text import defang_url, host_forms

AUTH_METHODS = ("spf", "dkim", "dmarc", "compauth")


def trusted_verdicts(results: tuple[AuthResult, ...]) -> dict[str, str | None]:
    """What the receiving organisation's own Authentication-Results say per method (lower-case words).

    DKIM passes when any of its signatures passed (as DMARC counts it); otherwise the first result stands.
    """
    verdicts: dict[str, str | None] = dict.fromkeys(AUTH_METHODS)
    for method in AUTH_METHODS:
        found = [r.result.lower() for r in results if r.trusted and r.method.lower() == method]
        if found:
            verdicts[method] = "pass" if "pass" in found else found[0]
    return verdicts


def _address(address: Address | None) -> dict[str, str] | None:
    if address is None:
        return None
    return {"name": address.name, "address": address.address}


def _idn_hosts(urls: tuple[str, ...]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for url in urls:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            continue
        ascii_form, unicode_form = host_forms(host)
        if unicode_form and ascii_form not in seen:
            seen[ascii_form] = {"ascii": ascii_form, "unicode": unicode_form}
    return list(seen.values())


def analysis(message: ReportedMessage) -> dict[str, Any]:
    """The JSON object of `phishbot parse --json`: one message, its wrapped original in `inner`."""
    return {
        "message_id": message.message_id,
        "subject": message.subject,
        "from": [_address(a) for a in message.from_],
        "sender": _address(message.sender),
        "reply_to": [_address(a) for a in message.reply_to],
        "return_path": message.return_path,
        "to": [_address(a) for a in message.to],
        "cc": [_address(a) for a in message.cc],
        "date": message.date,
        "auth": trusted_verdicts(message.authentication),
        "authentication_results": [
            {
                "method": r.method,
                "result": r.result,
                "reason": r.reason,
                "authserv_id": r.authserv_id,
                "trusted": r.trusted,
            }
            for r in message.authentication
        ],
        "antispam": dict(message.antispam),
        "urls": list(message.urls),
        "idn_hosts": _idn_hosts(message.urls),
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.declared_type,
                "sniffed_type": a.sniffed_type,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in message.attachments
        ],
        "inner": analysis(message.inner) if message.inner is not None else None,
        "warnings": list(message.flags),
        "size": message.size,
        "sha256": message.sha256,
    }


def render_text(message: ReportedMessage, *, indent: str = "") -> str:
    """The analysis as lines for a terminal; links and addresses defanged, as on the case card."""
    lines: list[str] = []

    def line(label: str, value: object) -> None:
        if value not in (None, "", [], ()):
            lines.append(f"{indent}{label:<13} {value}")

    def people(addresses: tuple[Address, ...]) -> str:
        return ", ".join(f"{a.name} <{a.address}>" if a.name else a.address for a in addresses)

    line("Message-ID", message.message_id)
    line("Subject", message.subject)
    line("From", people(message.from_))
    if message.sender is not None:
        line("Sender", people((message.sender,)))
    line("Reply-To", people(message.reply_to))
    line("Return-Path", message.return_path)
    line("To", people(message.to))
    line("Cc", people(message.cc))
    line("Date", message.date)
    verdicts = trusted_verdicts(message.authentication)
    line("Auth", " ".join(f"{method}={verdicts[method] or '-'}" for method in AUTH_METHODS))
    for result in message.authentication:
        where = f" by {result.authserv_id}" if result.authserv_id else ""
        trust = "" if result.trusted else "  [not the receiver's: could be forged]"
        reason = f" ({result.reason})" if result.reason else ""
        lines.append(f"{indent}  {result.method}={result.result}{reason}{where}{trust}")
    if message.antispam:
        line("Anti-spam", " ".join(f"{key}={value}" for key, value in message.antispam.items()))
    if message.urls:
        lines.append(f"{indent}Links ({len(message.urls)}):")
        lines.extend(f"{indent}  {defang_url(url)}" for url in message.urls)
    if message.attachments:
        lines.append(f"{indent}Attachments ({len(message.attachments)}):")
        for a in message.attachments:
            kind = (
                a.sniffed_type
                if a.sniffed_type == a.declared_type
                else f"{a.sniffed_type} (says {a.declared_type})"
            )
            lines.append(f"{indent}  {a.filename or '(no name)'}: {kind}, {a.size} bytes, sha256 {a.sha256}")
    if message.flags:
        lines.append(f"{indent}Warnings:")
        lines.extend(f"{indent}  - {flag}" for flag in message.flags)
    if message.inner is not None:
        lines.append(f"{indent}Wrapped original:")
        lines.append(render_text(message.inner, indent=indent + "    "))
    return "\n".join(lines)


def run_parse(path: str, *, as_json: bool, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The `phishbot parse` command: 0 when the file was read as email, 2 when it is not one."""
    out = out or sys.stdout
    err = err or sys.stderr
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > DEFAULT_MAX_BYTES:
            raise ParseError(f"The file is larger than {DEFAULT_MAX_BYTES // (1024 * 1024)} MB.")
        raw = file.read_bytes()
        message = parse_message(raw)
    except OSError as exc:
        print(f"phishbot parse: {path}: {exc.strerror or type(exc).__name__}", file=err)
        return 2
    except ParseError as exc:
        print(f"phishbot parse: {path}: {exc}", file=err)
        return 2
    if as_json:
        out.write(json.dumps(analysis(message), ensure_ascii=False) + "\n")
    else:
        out.write(render_text(message) + "\n")
    return 0

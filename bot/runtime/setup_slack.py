"""`phishbot setup slack`: create (or update) phishbot's Slack app from manifest.yml with Slack's App Manifest API.

The person pastes an app configuration token (api.slack.com/apps → "Your App Configuration Tokens" → Generate
Token; it lasts 12 hours and comes with a refresh token). phishbot turns manifest.yml into the manifest of the
mode asked for — Socket Mode as the file says, or HTTP mode with `--request-url` set as the request URL of events,
interactivity and the slash command — and asks Slack to validate it (`apps.manifest.validate`). Without
`--app-id` it creates the app (`apps.manifest.create`); with one it compares the app's manifest
(`apps.manifest.export`) and updates it (`apps.manifest.update`) only when they differ. An expired configuration
token is renewed once with the refresh token (`tooling.tokens.rotate`) when one is given.

It then prints the install link and where, on the app's pages, to copy the bot token, the app-level token or the
signing secret from. Slack's answer to `apps.manifest.create` carries the app's credentials; they, the
configuration token and the refresh token are never printed or logged.
"""

from __future__ import annotations

import copy
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Endpoints

# Names of environment variables, not tokens.
CONFIG_TOKEN_ENV = "SLACK_CONFIG_TOKEN"  # noqa: S105
REFRESH_TOKEN_ENV = "SLACK_CONFIG_REFRESH_TOKEN"  # noqa: S105
APPS_PAGE = "https://api.slack.com/apps"
_TOKEN_PAGE = f"{APPS_PAGE} → Your App Configuration Tokens → Generate Token"
_SET_BY_SLACK = ("_metadata",)  # what apps.manifest.export adds to the manifest it was given


@dataclass(frozen=True)
class Options:
    manifest: Path = Path("manifest.yml")
    app_id: str | None = None
    request_url: str | None = None  # HTTP mode: https://HOST/slack/events
    token_stdin: bool = False


class SetupError(Exception):
    """A stop with one line for the person (never a secret)."""


@dataclass
class _Tokens:
    """The configuration token and its refresh token; never in a repr."""

    access: str
    refresh: str | None

    def __repr__(self) -> str:
        return "_Tokens([redacted])"


def run_setup_slack(
    options: Options,
    endpoints: Endpoints,
    *,
    out: TextIO | None = None,
    stdin: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    ask_secret: Callable[[str], str] = getpass.getpass,
) -> int:
    out = out or sys.stdout
    try:
        manifest = app_manifest(load_manifest(options.manifest), options.request_url)
        tokens = _read_tokens(
            options, stdin or sys.stdin, os.environ if environ is None else environ, ask_secret
        )
        return _Session(options, endpoints, tokens, out, ask_secret).run(manifest)
    except SetupError as exc:
        print(f"phishbot: {exc}", file=out)
        return 1
    except KeyboardInterrupt:
        print("\nphishbot: stopped", file=out)
        return 130


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SetupError(
            f"no {path} here: run this in the phishbot checkout (manifest.yml is at its root) or pass --manifest"
        ) from None
    except OSError as exc:
        raise SetupError(f"cannot read {path}: {exc.strerror}") from None
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SetupError(f"{path} is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(manifest, dict):
        raise SetupError(f"{path} is not a Slack app manifest (no mapping at its top)")
    return manifest


def app_manifest(manifest: dict[str, Any], request_url: str | None) -> dict[str, Any]:
    """manifest.yml as Slack should get it: Socket Mode as written, or HTTP mode with every request URL set."""
    result = copy.deepcopy(manifest)
    settings = result.setdefault("settings", {})
    if request_url is None:
        settings["socket_mode_enabled"] = True
        return result
    parts = urlsplit(request_url)
    if parts.scheme != "https" or not parts.hostname:
        raise SetupError(
            f"--request-url must be an https:// URL Slack can reach, e.g. https://phishbot.example.com{_EVENTS}"
        )
    if not parts.path.endswith(_EVENTS):
        raise SetupError(
            f"--request-url must end with {_EVENTS}, where phishbot answers Slack (PHISHBOT_MODE=http)"
        )
    settings["socket_mode_enabled"] = False
    if "event_subscriptions" in settings:
        settings["event_subscriptions"]["request_url"] = request_url
    settings.setdefault("interactivity", {"is_enabled": True})["request_url"] = request_url
    for command in result.get("features", {}).get("slash_commands", []) or []:
        command["url"] = request_url
    return result


_EVENTS = "/slack/events"


def _read_tokens(
    options: Options, stdin: TextIO, environ: Mapping[str, str], ask_secret: Callable[[str], str]
) -> _Tokens:
    if options.token_stdin:
        access = stdin.readline().strip()
        source = "standard input"
    elif environ.get(CONFIG_TOKEN_ENV, "").strip():
        access = environ[CONFIG_TOKEN_ENV].strip()
        source = CONFIG_TOKEN_ENV
    else:
        if not stdin.isatty():
            raise SetupError(
                f"no app configuration token: set {CONFIG_TOKEN_ENV}, pipe it in with --token-stdin, or run this in "
                f"a terminal to paste it ({_TOKEN_PAGE})"
            )
        access = ask_secret(f"App configuration token (xoxe.xoxp-…, from {_TOKEN_PAGE}; not shown): ").strip()
        source = "what was pasted"
    _check_shape(access, source)
    refresh = environ.get(REFRESH_TOKEN_ENV, "").strip() or None
    return _Tokens(access, refresh)


def _check_shape(token: str, source: str) -> None:
    if not token:
        raise SetupError(f"the app configuration token from {source} is empty ({_TOKEN_PAGE})")
    kinds = {
        "xoxb-": "a bot token",
        "xapp-": "an app-level token",
        "xoxp-": "a user token",
        "xoxe-": "a refresh token",
    }
    for prefix, kind in kinds.items():
        if token.startswith(prefix):
            raise SetupError(
                f"{source} holds {kind}, not an app configuration token (xoxe.xoxp-…): generate one at {_TOKEN_PAGE}"
            )


class _Session:
    def __init__(
        self,
        options: Options,
        endpoints: Endpoints,
        tokens: _Tokens,
        out: TextIO,
        ask_secret: Callable[[str], str],
    ) -> None:
        from bot.services import web_client

        self.options = options
        self.tokens = tokens
        self.out = out
        self.ask_secret = ask_secret
        # slack-sdk logs request bodies and answers at DEBUG (the refresh token, the new app's credentials):
        # its logger for these calls never goes below INFO, whatever the root logger is set to.
        quiet = logging.getLogger("phishbot.setup.slack_api")
        quiet.setLevel(logging.INFO)
        self.client: WebClient = web_client(endpoints, None, logger=quiet)
        self.rotated = False

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def run(self, manifest: dict[str, Any]) -> int:
        o = self.options
        mode = "HTTP mode" if o.request_url else "Socket Mode"
        name = (manifest.get("display_information") or {}).get("name", "phishbot")
        self.say(f'phishbot setup slack: the Slack app "{name}" from {o.manifest} ({mode})')
        self.say()
        text = json.dumps(manifest, ensure_ascii=False)
        self.call("apps.manifest.validate", manifest=text, **({"app_id": o.app_id} if o.app_id else {}))
        self.say("  ✓ Slack validated the manifest")
        if o.app_id is None:
            answer = self.call("apps.manifest.create", manifest=text)
            app_id = str(answer.get("app_id") or "")
            self.say(f"  + created the app {app_id}")
            install = str(answer.get("oauth_authorize_url") or f"{APPS_PAGE}/{app_id}/install-on-team")
            self.next_steps(app_id, install, reinstall=False, created=True)
            return 0
        exported = self.call("apps.manifest.export", app_id=o.app_id).get("manifest")
        if _canonical(exported) == _canonical(manifest):
            self.say(f"  ✓ the app {o.app_id} already has this manifest: nothing to change")
            self.next_steps(
                o.app_id, f"{APPS_PAGE}/{o.app_id}/install-on-team", reinstall=False, created=False
            )
            return 0
        answer = self.call("apps.manifest.update", app_id=o.app_id, manifest=text)
        self.say(f"  + updated the app {o.app_id}")
        reinstall = bool(answer.get("permissions_updated"))
        self.next_steps(
            o.app_id, f"{APPS_PAGE}/{o.app_id}/install-on-team", reinstall=reinstall, created=False
        )
        return 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        while True:
            try:
                response = self.client.api_call(
                    method, params=params, headers={"Authorization": f"Bearer {self.tokens.access}"}
                )
                return dict(response.data) if isinstance(response.data, dict) else {}
            except SlackApiError as exc:
                data = exc.response.data if isinstance(exc.response.data, dict) else {}
                error = str(data.get("error") or "unknown_error")
                if error == "token_expired" and not self.rotated:
                    self.rotate()
                    continue
                raise SetupError(self.explain(method, error, data)) from None
            except OSError as exc:  # connection refused, DNS, TLS: slack-sdk has retried connection errors
                raise SetupError(f"Slack could not be reached for {method} ({type(exc).__name__})") from None

    def rotate(self) -> None:
        """Swap the expired configuration token for a new one with the refresh token (neither is printed)."""
        self.rotated = True
        refresh = self.tokens.refresh
        if refresh is None and sys.stdin.isatty():
            refresh = self.ask_secret(
                "The configuration token has expired. Its refresh token (xoxe-…; not shown): "
            )
        if not refresh:
            raise SetupError(
                "the app configuration token has expired (they last 12 hours): generate a new one at "
                f"{_TOKEN_PAGE}, or give its refresh token in {REFRESH_TOKEN_ENV}"
            )
        try:
            answer = self.client.api_call("tooling.tokens.rotate", params={"refresh_token": refresh.strip()})
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else "unknown_error"
            raise SetupError(
                f"Slack refused the refresh token ({error}): generate a new configuration token at {_TOKEN_PAGE}"
            ) from None
        self.tokens = _Tokens(str(answer.get("token") or ""), str(answer.get("refresh_token") or "") or None)
        self.say(
            "  ✓ renewed the expired configuration token with its refresh token (the new pair is not shown; "
            "generate a fresh one next time)"
        )

    def explain(self, method: str, error: str, data: dict[str, Any]) -> str:
        if error == "invalid_manifest":
            problems = [
                f"{item.get('pointer') or '/'}: {item.get('message') or 'invalid'}"
                for item in data.get("errors") or []
                if isinstance(item, dict)
            ]
            listed = "".join(f"\n  {problem}" for problem in problems[:20])
            return f"Slack refused the manifest ({method}, invalid_manifest):{listed or ' no details given'}"
        hints = {
            "invalid_auth": f"the app configuration token is not valid: generate one at {_TOKEN_PAGE}",
            "not_authed": f"no app configuration token reached Slack: generate one at {_TOKEN_PAGE}",
            "token_expired": f"the app configuration token has expired again: generate a new one at {_TOKEN_PAGE}",
            "token_revoked": f"the app configuration token was revoked: generate a new one at {_TOKEN_PAGE}",
            "not_allowed_token_type": f"that is not an app configuration token: generate one at {_TOKEN_PAGE}",
            "app_not_found": f"no app {self.options.app_id} for this token's workspace: check --app-id ({APPS_PAGE})",
            "invalid_app_id": f"--app-id {self.options.app_id} is not a Slack app id (A…, on Basic Information)",
            "app_not_eligible": "this app cannot be changed with the App Manifest API; change it on its pages",
            "ratelimited": "Slack is rate limiting these calls; wait a minute and run it again",
        }
        return f"Slack refused {method} ({error}): " + hints.get(
            error, "see https://api.slack.com/methods/" + method
        )

    def next_steps(self, app_id: str, install: str, *, reinstall: bool, created: bool) -> None:
        http = self.options.request_url is not None
        pages = f"{APPS_PAGE}/{app_id}"
        self.say()
        if created or reinstall:
            why = "its scopes changed: reinstall it" if reinstall else "install it to the workspace"
            self.say(f"1. {why.capitalize()}: open {install}")
            self.say("   and allow. (A workspace that requires approval asks an admin first.)")
        else:
            self.say(f"1. If the app is not installed in the workspace yet, install it: {install}")
        self.say(
            "2. Copy into .env (or the environment phishbot runs in) — the values are on the app's pages:"
        )
        self.say()
        self.say(f"PHISHBOT_MODE={'http' if http else 'socket'}")
        self.say(
            f"SLACK_BOT_TOKEN=xoxb-…       # {pages}/oauth → OAuth Tokens → Bot User OAuth Token (once installed)"
        )
        if http:
            self.say(
                f"SLACK_SIGNING_SECRET=…       # {pages}/general → App Credentials → Signing Secret (Show)"
            )
        else:
            self.say(
                f"SLACK_APP_TOKEN=xapp-…       # {pages}/general → App-Level Tokens → Generate Token and Scopes, "
                "scope connections:write"
            )
        self.say("PHISHBOT_SOC_CHANNEL=C…      # the security channel's id (channel details, at the bottom)")
        self.say()
        self.say("3. Invite the bot to the security channel and to every intake channel: /invite @phishbot")
        self.say("4. Run `phishbot doctor`: it checks the token, its scopes and the channels.")
        if created:
            self.say(f"To change the app later from manifest.yml, run this again with --app-id {app_id}.")


def _canonical(manifest: Any) -> Any:
    """A manifest in a form where Slack's reordering of lists of names and its own additions do not count."""
    if isinstance(manifest, dict):
        return {key: _canonical(value) for key, value in manifest.items() if key not in _SET_BY_SLACK}
    if isinstance(manifest, list):
        items = [_canonical(item) for item in manifest]
        return sorted(items) if all(isinstance(item, str) for item in items) else items
    return manifest

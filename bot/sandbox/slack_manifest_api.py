"""Slack's App Manifest API for the loopback Slack emulator: what `phishbot setup slack` calls.

`SlackManifestApi(schema).attach(slack_emulator)` adds, through the emulator's `extra_methods` and `extra_pages`:

* `apps.manifest.validate`, `apps.manifest.create`, `apps.manifest.update`, `apps.manifest.export` and
  `apps.manifest.delete`, with an **app configuration token** (`issue_config_token()`: `xoxe.xoxp-…` and its refresh
  token `xoxe-…`; they expire after 12 hours, or at once with `expire_config_tokens()`); `tooling.tokens.rotate`
  swaps a refresh token for a new pair (the old refresh token is then spent). Errors are Slack's: `not_authed`,
  `invalid_auth`, `token_expired`, `not_allowed_token_type` (a bot or app-level token), `invalid_refresh_token`,
  `invalid_app_id`, `app_not_found`, `invalid_arguments`.
* **Validation as Slack does it**: the manifest (a JSON string) against Slack's published JSON schema (given at
  construction: slackapi/manifest-schema 1.0.0, the file in tests/fixtures/slack/), then the rules the schema
  cannot say — event subscriptions and interactivity need a request URL or Socket Mode, so does each slash
  command; request URLs are https; bot events and slash commands need their scopes; bot scopes need a bot user.
  A refusal is `invalid_manifest` with an `errors` list of `{message, pointer}` (a JSON pointer into the manifest).
* `create` answers `app_id`, the app's `credentials` (client id and secret, verification token, signing secret)
  and `oauth_authorize_url`, which this emulator serves: opening it installs the app in the workspace (the bot
  token, signing secret and scopes of the emulator become the app's, as after a real install) — the person's
  click. `credentials(app_id)` is what the app's pages on api.slack.com would show (tests copy from there).
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.sandbox.slack_emulator import SlackEmulator

CONFIG_TOKEN_LIFETIME = 12 * 3600.0
METHODS = (
    "apps.manifest.validate",
    "apps.manifest.create",
    "apps.manifest.update",
    "apps.manifest.export",
    "apps.manifest.delete",
    "tooling.tokens.rotate",
)
INSTALL_PAGE = "/oauth/v2/authorize"
# Events and what they need (docs.slack.dev, "Events API" reference: each event names its required scope).
_EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "app_mention": "app_mentions:read",
    "reaction_added": "reactions:read",
    "member_joined_channel": "channels:read",
}
_ALNUM = string.ascii_uppercase + string.digits


@dataclass
class _ConfigToken:
    refresh: str
    expires: float  # monotonic
    user_id: str


@dataclass
class _App:
    app_id: str
    manifest: dict[str, Any]
    credentials: dict[str, str] = field(repr=False)
    installed_token: str | None = field(default=None, repr=False)


class SlackManifestApi:
    """The App Manifest API of one workspace (the emulator's team)."""

    def __init__(self, schema: dict[str, Any] | Path) -> None:
        self.schema = json.loads(schema.read_text(encoding="utf-8")) if isinstance(schema, Path) else schema
        self._validator: Any = None
        self._emulator: SlackEmulator | None = None
        self._tokens: dict[str, _ConfigToken] = {}  # access token -> its refresh token and expiry
        self._apps: dict[str, _App] = {}

    def __repr__(self) -> str:
        return f"SlackManifestApi(apps={sorted(self._apps)})"

    def attach(self, emulator: SlackEmulator) -> SlackManifestApi:
        self._emulator = emulator
        for method, handler in (
            ("apps.manifest.validate", self._validate),
            ("apps.manifest.create", self._create),
            ("apps.manifest.update", self._update),
            ("apps.manifest.export", self._export),
            ("apps.manifest.delete", self._delete),
        ):
            emulator.extra_methods[method] = self._authorized(handler)
        emulator.extra_methods["tooling.tokens.rotate"] = lambda args, _token: self._rotate(args)
        emulator.extra_pages[INSTALL_PAGE] = self._install_page
        return self

    # -- test controls -----------------------------------------------------------------------------------------

    def issue_config_token(self, user_id: str = "U0ADMIN01") -> tuple[str, str]:
        """A new app configuration token and its refresh token, as "Generate Token" on api.slack.com/apps gives."""
        token = f"xoxe.xoxp-1-{secrets.token_hex(32)}"
        refresh = f"xoxe-1-{secrets.token_hex(32)}"
        self._tokens[token] = _ConfigToken(refresh, time.monotonic() + CONFIG_TOKEN_LIFETIME, user_id)
        return token, refresh

    def expire_config_tokens(self) -> None:
        for held in self._tokens.values():
            held.expires = 0.0

    def manifest(self, app_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._apps[app_id].manifest)

    def app_ids(self) -> list[str]:
        return sorted(self._apps)

    def credentials(self, app_id: str) -> dict[str, str]:
        """What the app's pages show: Basic Information's App Credentials, and (once installed) the bot token."""
        app = self._apps[app_id]
        shown = dict(app.credentials)
        if app.installed_token is not None:
            shown["bot_token"] = app.installed_token
        return shown

    def install(self, app_id: str) -> str:
        """The person allows the app on the install page: the workspace now runs this app. Returns its bot token."""
        emulator = self._require_emulator()
        app = self._apps[app_id]
        app.installed_token = (
            app.installed_token or f"xoxb-{secrets.randbelow(10**12)}-{secrets.token_hex(12)}"
        )
        scopes = ((app.manifest.get("oauth_config") or {}).get("scopes") or {}).get("bot") or []
        emulator.install_app(
            app_id,
            bot_token=app.installed_token,
            signing_secret=app.credentials["signing_secret"],
            scopes=scopes,
        )
        return app.installed_token

    # -- methods -----------------------------------------------------------------------------------------------

    def _authorized(
        self, handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[dict[str, Any], str | None], dict[str, Any]]:
        """The App Manifest API's methods take an app configuration token; anything else is refused first."""

        def answer(args: dict[str, Any], token: str | None) -> dict[str, Any]:
            return self._auth(token) or handler(args)

        return answer

    def _validate(self, args: dict[str, Any]) -> dict[str, Any]:
        manifest, problem = self._manifest(args)
        if problem:
            return problem
        if args.get("app_id"):
            missing = self._app(args["app_id"])
            if isinstance(missing, dict):
                return missing
        return {"ok": True}

    def _create(self, args: dict[str, Any]) -> dict[str, Any]:
        manifest, problem = self._manifest(args)
        if problem:
            return problem
        emulator = self._require_emulator()
        app_id = "A0" + "".join(secrets.choice(_ALNUM) for _ in range(9))
        credentials = {
            "client_id": f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}",
            "client_secret": secrets.token_hex(16),
            "verification_token": "".join(secrets.choice(_ALNUM.lower() + _ALNUM) for _ in range(24)),
            "signing_secret": secrets.token_hex(16),
        }
        self._apps[app_id] = _App(app_id, manifest, credentials)
        query = urlencode({"client_id": credentials["client_id"], "scope": ",".join(_bot_scopes(manifest))})
        return {
            "ok": True,
            "app_id": app_id,
            "credentials": dict(credentials),
            "oauth_authorize_url": f"{emulator.root_url.rstrip('/')}{INSTALL_PAGE}?{query}",
            "team_id": emulator.team_id,
            "team_domain": emulator.team_domain,
        }

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        app = self._app(args.get("app_id"))
        if isinstance(app, dict):
            return app
        manifest, problem = self._manifest(args)
        if problem:
            return problem
        scopes_changed = set(_bot_scopes(manifest)) != set(_bot_scopes(app.manifest))
        app.manifest = manifest
        return {"ok": True, "app_id": app.app_id, "permissions_updated": scopes_changed}

    def _export(self, args: dict[str, Any]) -> dict[str, Any]:
        app = self._app(args.get("app_id"))
        if isinstance(app, dict):
            return app
        return {
            "ok": True,
            "manifest": {"_metadata": {"major_version": 1, "minor_version": 1}, **app.manifest},
        }

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        app = self._app(args.get("app_id"))
        if isinstance(app, dict):
            return app
        del self._apps[app.app_id]
        return {"ok": True}

    def _rotate(self, args: dict[str, Any]) -> dict[str, Any]:
        refresh = str(args.get("refresh_token") or "")
        if not refresh:
            return _arguments("missing required field: refresh_token")
        held = next(((access, t) for access, t in self._tokens.items() if t.refresh == refresh), None)
        if held is None:
            return {"ok": False, "error": "invalid_refresh_token"}
        held[1].refresh = ""  # spent
        new_token, new_refresh = self.issue_config_token(held[1].user_id)
        now = int(time.time())
        emulator = self._require_emulator()
        return {
            "ok": True,
            "token": new_token,
            "refresh_token": new_refresh,
            "team_id": emulator.team_id,
            "user_id": held[1].user_id,
            "iat": now,
            "exp": now + int(CONFIG_TOKEN_LIFETIME),
        }

    # -- the install link --------------------------------------------------------------------------------------

    def _install_page(self, query: dict[str, str]) -> tuple[int, str]:
        app = next(
            (a for a in self._apps.values() if a.credentials["client_id"] == query.get("client_id")), None
        )
        if app is None:
            return 404, "<!DOCTYPE html><title>Slack</title><p>There's been a glitch: no such app.</p>"
        self.install(app.app_id)
        name = (app.manifest.get("display_information") or {}).get("name", app.app_id)
        return 200, (
            f"<!DOCTYPE html><title>Slack</title><p>{_html(str(name))} is installed in "
            f"{_html(self._require_emulator().team_domain)}. Its Bot User OAuth Token is on the app's "
            "OAuth &amp; Permissions page.</p>"
        )

    # -- checks ------------------------------------------------------------------------------------------------

    def _auth(self, token: str | None) -> dict[str, Any] | None:
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token.startswith(("xoxb-", "xapp-")):
            return {"ok": False, "error": "not_allowed_token_type"}
        held = self._tokens.get(token)
        if held is None:
            return {"ok": False, "error": "invalid_auth"}
        if time.monotonic() >= held.expires:
            return {"ok": False, "error": "token_expired"}
        return None

    def _app(self, app_id: Any) -> _App | dict[str, Any]:
        if not app_id:
            return _arguments("missing required field: app_id")
        if not isinstance(app_id, str) or not app_id.startswith("A") or not app_id.isalnum():
            return {"ok": False, "error": "invalid_app_id"}
        app = self._apps.get(app_id)
        return app if app is not None else {"ok": False, "error": "app_not_found"}

    def _manifest(self, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        raw = args.get("manifest")
        if raw is None:
            return {}, _arguments("missing required field: manifest")
        try:
            manifest = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return {}, _invalid([("Manifest is not valid JSON", "/")])
        if not isinstance(manifest, dict):
            return {}, _invalid([("Manifest must be a JSON object", "/")])
        problems = self._schema_problems(manifest) or _rule_problems(manifest)
        return (manifest, _invalid(problems)) if problems else (copy.deepcopy(manifest), None)

    def _schema_problems(self, manifest: dict[str, Any]) -> list[tuple[str, str]]:
        if self._validator is None:
            # jsonschema is a test dependency: imported only when a manifest is checked (the demo never does).
            import jsonschema

            self._validator = jsonschema.Draft7Validator(self.schema)
        return [
            (error.message, _pointer(error.absolute_path))
            for error in sorted(
                self._validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))
            )
        ]

    def _require_emulator(self) -> SlackEmulator:
        if self._emulator is None:
            raise RuntimeError("attach the manifest API to a SlackEmulator first")
        return self._emulator


def _rule_problems(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """What Slack refuses beyond the schema."""
    settings = manifest.get("settings") or {}
    features = manifest.get("features") or {}
    socket = bool(settings.get("socket_mode_enabled"))
    scopes = set(_bot_scopes(manifest))
    problems: list[tuple[str, str]] = []
    events = settings.get("event_subscriptions")
    if isinstance(events, dict):
        if not socket and not events.get("request_url"):
            message = "Event Subscription requires either Request URL or Socket Mode Enabled"
            problems.append((message, "/settings/event_subscriptions"))
        for index, event in enumerate(events.get("bot_events") or []):
            needed = _EVENT_SCOPES.get(event)
            if needed and needed not in scopes:
                pointer = f"/settings/event_subscriptions/bot_events/{index}"
                problems.append((f"Event {event} requires the {needed} bot scope", pointer))
    interactivity = settings.get("interactivity")
    if isinstance(interactivity, dict) and interactivity.get("is_enabled") and not socket:
        if not interactivity.get("request_url"):
            problems.append(("Interactivity requires a Request URL", "/settings/interactivity"))
    for index, command in enumerate(features.get("slash_commands") or []):
        if not socket and not command.get("url"):
            message = "Slash command requires a URL when Socket Mode is disabled"
            problems.append((message, f"/features/slash_commands/{index}"))
    if (features.get("slash_commands") or features.get("shortcuts")) and "commands" not in scopes:
        problems.append(
            ("Slash commands and shortcuts require the commands bot scope", "/oauth_config/scopes/bot")
        )
    if scopes and not features.get("bot_user"):
        problems.append(("Bot scopes require a bot user", "/features/bot_user"))
    for pointer, url in _request_urls(manifest):
        if urlsplit(str(url)).scheme != "https":
            problems.append(("Request URL must use https", pointer))
    return problems


def _request_urls(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    settings = manifest.get("settings") or {}
    found = [
        (f"/settings/{section}/request_url", (settings.get(section) or {}).get("request_url"))
        for section in ("event_subscriptions", "interactivity")
    ]
    found += [
        (f"/features/slash_commands/{index}/url", command.get("url"))
        for index, command in enumerate((manifest.get("features") or {}).get("slash_commands") or [])
    ]
    return [(pointer, url) for pointer, url in found if url]


def _bot_scopes(manifest: dict[str, Any]) -> list[str]:
    return list(((manifest.get("oauth_config") or {}).get("scopes") or {}).get("bot") or [])


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(part) for part in path)


def _invalid(problems: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_manifest",
        "errors": [{"message": message, "pointer": pointer} for message, pointer in problems],
    }


def _arguments(message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] {message}"]},
    }


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""`phishbot setup slack` and `phishbot setup microsoft`: their arguments, and the way from the command line in.

Nothing heavy is imported until a setup command runs (every `phishbot` command builds this parser). Both read
only where Slack and Microsoft are (`bot.config.Endpoints`: SLACK_API_URL, MS_AUTHORITY_HOST,
GRAPH_URL, SSL_CERT_FILE, HTTPS_PROXY, from the environment or ./.env): the rest of the configuration is what
they help make.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_setup_commands(setup: argparse.ArgumentParser) -> None:
    which = setup.add_subparsers(dest="setup_command", required=True)
    slack = which.add_parser(
        "slack",
        help="create (or update) the Slack app from manifest.yml with Slack's App Manifest API",
        description="Needs an app configuration token: https://api.slack.com/apps → Your App Configuration Tokens "
        "→ Generate Token. It is asked for without echo, or read from SLACK_CONFIG_TOKEN or (--token-stdin) "
        "standard input; SLACK_CONFIG_REFRESH_TOKEN renews it if it has expired.",
    )
    slack.add_argument("--manifest", type=Path, default=Path("manifest.yml"), help="default: ./manifest.yml")
    slack.add_argument("--app-id", help="update this existing app (A…) instead of creating one")
    slack.add_argument(
        "--request-url",
        help="HTTP mode: the public https URL of phishbot's /slack/events (default: Socket Mode, no public URL)",
    )
    slack.add_argument("--token-stdin", action="store_true", help="read the configuration token from stdin")

    microsoft = which.add_parser(
        "microsoft",
        help="register the Entra app: permissions, admin consent, a certificate; print the MS_* settings",
        description="An administrator signs in with a code in any browser (Privileged Role Administrator or "
        "Global Administrator, for the admin consent). Running it again changes only what is missing.",
    )
    microsoft.add_argument(
        "--name", default="phishbot", help="the app registration's name (default phishbot)"
    )
    microsoft.add_argument(
        "--tenant",
        default="organizations",
        help="tenant id or domain to sign in to (default: the account's own)",
    )
    microsoft.add_argument(
        "--certificate",
        type=Path,
        default=Path("phishbot-microsoft.pem"),
        help="where the key and certificate are (made here when missing, mode 0600); default ./phishbot-microsoft.pem",
    )
    microsoft.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="PERMISSION",
        help="leave out an optional permission, e.g. SecurityAnalyzedMessage.ReadWrite.All without Defender "
        "for Office 365 Plan 2 (repeatable)",
    )
    microsoft.add_argument(
        "--client-id",
        help="the public client to sign in with (default: Microsoft Graph Command Line Tools, "
        "14d82eec-204b-4c2f-b7e8-296a70dab67e)",
    )
    microsoft.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")


def run_setup(args: argparse.Namespace) -> int:
    from bot.config import ConfigError, load_endpoints

    try:
        endpoints = load_endpoints()
    except ConfigError as exc:
        print(f"phishbot: configuration error: {exc}")
        return 2
    if args.setup_command == "slack":
        from bot.runtime import setup_slack

        options = setup_slack.Options(
            manifest=args.manifest,
            app_id=args.app_id,
            request_url=args.request_url,
            token_stdin=args.token_stdin,
        )
        return setup_slack.run_setup_slack(options, endpoints)
    from bot.runtime import setup_microsoft

    return setup_microsoft.run_setup_microsoft(
        setup_microsoft.Options(
            name=args.name,
            tenant=args.tenant,
            client_id=args.client_id or setup_microsoft.Options.client_id,
            certificate=args.certificate,
            without=tuple(args.without),
            dry_run=args.dry_run,
        ),
        endpoints,
    )

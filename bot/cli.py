"""The `phishbot` command: run, migrate, doctor, digest, demo, parse, audit, setup."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from importlib import metadata

from bot.config import ConfigError, load_settings
from bot.runtime.logs import configure_logging
from bot.runtime.setup_commands import add_setup_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="phishbot", description="Phishing incident response on Microsoft 365, in Slack."
    )
    # The version lives in pyproject.toml alone; the installed distribution's metadata carries it here.
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('phishbot')}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (configuration from the environment and ./.env)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser(
        "doctor", help="check Slack, Microsoft and the database against the configuration; print what to fix"
    )
    digest = sub.add_parser("digest", help="show the weekly digest; --now posts it to the digest channel")
    digest.add_argument("--now", action="store_true", help="post it now (to PHISHBOT_DIGEST_CHANNEL)")
    digest.add_argument("--channel", help="post to this channel id instead of PHISHBOT_DIGEST_CHANNEL")
    demo = sub.add_parser(
        "demo", help="run the bot against built-in Slack and Microsoft emulators (no accounts)"
    )
    demo.add_argument(
        "--verdict-after", type=float, default=4.0, help="seconds Microsoft's emulator takes to decide"
    )
    demo.add_argument("--no-color", action="store_true", help="plain text output")
    parse = sub.add_parser("parse", help="show how phishbot reads an email file (.eml or Outlook .msg)")
    parse.add_argument("file", help="the .eml or .msg file")
    parse.add_argument("--json", action="store_true", help="one JSON object instead of text")
    audit = sub.add_parser("audit", help="print the audit log: every responder action, refused ones too")
    audit.add_argument(
        "--since", help="only entries from this date (2026-11-01) or time (2026-11-01T08:00, UTC)"
    )
    audit.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (default csv)")
    setup = sub.add_parser(
        "setup", help="register the Slack app and the Entra app: `setup slack`, `setup microsoft`"
    )
    add_setup_commands(setup)
    args = parser.parse_args(argv)

    if args.command == "setup":
        from bot.runtime.setup_commands import run_setup

        return run_setup(args)

    if args.command == "parse":
        from bot.email.analysis import run_parse

        return run_parse(args.file, as_json=args.json)

    if args.command == "demo":
        from bot.sandbox.demo import run_demo

        return run_demo(verdict_after=args.verdict_after, color=not args.no_color and sys.stdout.isatty())

    configure_logging()
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"phishbot: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return migrate(settings)
    if args.command == "doctor":
        from bot.runtime.doctor import run_doctor

        return run_doctor(settings)
    if args.command == "digest":
        return digest_command(settings, post=args.now, channel=args.channel)
    if args.command == "audit":
        from bot.cases.audit_export import run_audit

        return run_audit(settings.database_url, since=args.since, fmt=args.format)
    return serve(settings)


def migrate(settings) -> int:
    from bot.store import Database

    database = Database(settings.database_url)
    try:
        problem = database.schema_problem()
        if problem is not None and problem[0] == "ahead":
            print(f"phishbot: {problem[1]}", file=sys.stderr)
            return 1
        database.migrate()
        print(f"database is at revision {database.schema_revision()}")
        return 0
    finally:
        database.close()


def digest_command(settings, *, post: bool, channel: str | None) -> int:
    from slack_sdk.errors import SlackApiError

    from bot.cases.digest import Digest
    from bot.services import build_services

    services = build_services(settings)
    try:
        problem = services.database.schema_problem()
        if problem is not None:
            print(f"phishbot: {problem[1]}", file=sys.stderr)
            return 1
        digest = Digest(
            services.store.digests,
            services.store.idempotency,
            services.slack,
            channel=channel or settings.digest_channel,
            timezone=settings.digest_timezone,
        )
        if not post:
            print(digest.build().text)
            print("\n(not posted: `phishbot digest --now` posts it)")
            return 0
        if not digest.channel:
            print(
                "phishbot: no digest channel: set PHISHBOT_DIGEST_CHANNEL or pass --channel", file=sys.stderr
            )
            return 2
        try:
            digest.post()
        except SlackApiError as exc:
            print(f"phishbot: Slack refused the digest ({exc.response.get('error')})", file=sys.stderr)
            return 1
        print(f"digest posted to {digest.channel}")
        return 0
    finally:
        services.close()


def serve(settings) -> int:
    from bot.runtime.process import Runtime

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime = Runtime(settings)
    try:
        runtime.start()
    except Exception as exc:  # noqa: BLE001 - start-up failures become one line and exit code 1
        logging.getLogger("phishbot").error("could not start: %s", exc)
        runtime.stop()
        return 1
    stop.wait()
    logging.getLogger("phishbot").info("stopping: new work goes to other replicas, in-flight work finishes")
    runtime.stop()
    if not runtime.stopped_cleanly:
        # A stuck thread would hold the interpreter's exit (executor threads are joined at exit); what it
        # held is leased in the store and will be picked up again. Leave now, within the grace period.
        logging.shutdown()
        os._exit(0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

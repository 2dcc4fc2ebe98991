"""The `phishbot` command: run, migrate, demo."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from bot.config import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="phishbot", description="Phishing incident response on Microsoft 365, in Slack."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (configuration from the environment and ./.env)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    demo = sub.add_parser(
        "demo", help="run the bot against built-in Slack and Microsoft emulators (no accounts)"
    )
    demo.add_argument(
        "--verdict-after", type=float, default=4.0, help="seconds Microsoft's emulator takes to decide"
    )
    demo.add_argument("--no-color", action="store_true", help="plain text output")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from bot.demo import run_demo

        return run_demo(verdict_after=args.verdict_after, color=not args.no_color and sys.stdout.isatty())

    configure_logging()
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"phishbot: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        from bot.store import Store

        store = Store(settings.database_url)
        store.migrate()
        print(f"database is at revision {store.schema_revision()}")
        return 0
    return serve(settings)


def serve(settings) -> int:  # noqa: ANN001 - Settings; imported lazily to keep `phishbot --help` fast
    from bot.runtime import Runtime

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
    runtime.stop()
    return 0


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Client libraries log request details at DEBUG; keep them quiet so nothing sensitive is ever printed.
    for noisy in (
        "slack_sdk",
        "slack_bolt",
        "urllib3",
        "httpx",
        "httpcore",
        "msal",
        "apscheduler",
        "waitress",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is how a long sweep is meant to coalesce.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


if __name__ == "__main__":
    raise SystemExit(main())

"""Socket Mode: which client, how fast a lost connection is replaced, and ack latency against a bare Bolt app.

Two parts, both over the Socket Mode emulator (bot/sandbox/socket_mode.py: real RFC 6455 on loopback), each
app or client in a process of its own while the emulators run in this one:

* `clients`: the candidate Socket Mode clients, one connection each, the same ping interval: slack-sdk's
  built-in client (what Bolt's SocketModeHandler uses), slack-sdk over websocket-client, slack-sdk over aiohttp,
  and phishbot's connections over `websockets`. For each: time until a dropped connection (FIN, RST) is
  replaced, until a silent (half-open) one is, until Slack's `disconnect` is acted on, ack latency, CPU per
  envelope and CPU while idle. Clients whose library is not installed are skipped.
* `reconnect`: `phishbot run` in Socket Mode (PHISHBOT_SOCKET_CONNECTIONS=2, the default ping): replacement
  time of a dropped, a reset, a silent and a refreshed connection, and whether the other connection answered
  every slash command sent meanwhile.

Socket Mode's ack latency, open loop against a bare Bolt app, is bench/ack.py's (`--modes socket`).

Run: `python -m bench.socket` (both), or `python -m bench.socket clients|reconnect`. Options: --ping, --envelopes
(clients).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl

import httpx

from bench.common import INTAKE, REPORTER, bot_environment, start_phishbot, workspace
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.socket_mode import SLASH_COMMANDS, Delivery, SocketModeEmulator
from bot.sandbox.tls import make_tls

APP_TOKEN = "xapp-1-A0PHISHBOT-bench-app-token"
WAIT_LIMIT = 90.0  # seconds a replacement is waited for before the table says "> 90 s"

CLIENTS = {
    "slack-sdk built-in": None,
    "slack-sdk + websocket-client": "websocket",
    "slack-sdk + aiohttp": "aiohttp",
    "phishbot (websockets)": "websockets",
}


# --- helpers ------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, every thread included (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def replaced_in(
    socket_mode: SocketModeEmulator, fault: Callable[[], object], *, count: int = 1
) -> float | None:
    """Seconds from the fault until `count` responsive connections are open again (None: not within the limit)."""
    before = {c.id for c in socket_mode.connections()}
    started = time.monotonic()
    try:
        fault()
    except AssertionError:
        return None  # no connection to inject the fault into: the client never came back from the last one
    deadline = started + WAIT_LIMIT
    while time.monotonic() < deadline:
        fresh = [c for c in socket_mode.responsive() if c.id not in before]
        if fresh and len(socket_mode.responsive()) >= count:
            return min(c.opened_at for c in fresh) - started if count == 1 else time.monotonic() - started
        time.sleep(0.005)
    return None


def seconds(value: float | None) -> str:
    return f"> {WAIT_LIMIT:.0f} s" if value is None else f"{value:.2f} s"


def emulators(ping_timeout: float = 600.0) -> tuple[SlackEmulator, SocketModeEmulator]:
    slack = SlackEmulator(app_token=APP_TOKEN, validate_blocks=False).start()
    socket_mode = SocketModeEmulator(server_ping_timeout=ping_timeout, disconnect_grace=10.0).start()
    socket_mode.attach(slack)
    return slack, socket_mode


# --- part 1: the candidate clients --------------------------------------------------------------------------


def run_client(kind: str, api_url: str, ping: float) -> None:
    """A child process: one Socket Mode client that acks every envelope with an empty ack, until terminated."""
    logging.basicConfig(level=logging.CRITICAL)
    from slack_sdk import WebClient
    from slack_sdk.socket_mode.response import SocketModeResponse

    web = WebClient(base_url=api_url)
    if kind == "phishbot (websockets)":
        from bot.runtime.socket_mode import SocketModeConnections, SocketSettings

        SocketModeConnections(
            lambda: str(web.apps_connections_open(app_token=APP_TOKEN)["url"]),
            lambda envelope: {"envelope_id": envelope["envelope_id"]},
            ThreadPoolExecutor(max_workers=10),
            SocketSettings(connections=1, ping_seconds=ping),
        ).start()
    elif kind == "slack-sdk + aiohttp":
        from slack_sdk.socket_mode.aiohttp import SocketModeClient as AioClient
        from slack_sdk.web.async_client import AsyncWebClient

        async def main() -> None:
            client = AioClient(
                app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=api_url), ping_interval=ping
            )

            async def ack(client, request) -> None:
                await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

            client.socket_mode_request_listeners.append(ack)
            await client.connect()
            await asyncio.Event().wait()

        asyncio.run(main())
    else:
        if kind == "slack-sdk built-in":
            from slack_sdk.socket_mode.builtin import SocketModeClient
        else:
            from slack_sdk.socket_mode.websocket_client import SocketModeClient  # type: ignore[assignment]
        client = SocketModeClient(app_token=APP_TOKEN, web_client=web, ping_interval=ping)
        client.socket_mode_request_listeners.append(
            lambda client, request: client.send_socket_mode_response(
                SocketModeResponse(envelope_id=request.envelope_id)
            )
        )
        client.connect()
    threading.Event().wait()


def measure_client(kind: str, ping: float, envelopes: int) -> dict[str, object]:
    slack, socket_mode = emulators()
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=run_client, args=(kind, slack.api_url, ping), daemon=True)
    child.start()
    try:
        socket_mode.wait_for_connections(1, timeout=30)
        for _ in range(100):
            socket_mode.deliver("events_api", {"type": "event_callback", "event": {"type": "warm"}})
        time.sleep(1.0)
        idle_started, idle_cpu = time.monotonic(), cpu_seconds(child.pid)
        time.sleep(3.0)
        idle_rate = (cpu_seconds(child.pid) - idle_cpu) / (time.monotonic() - idle_started)
        started, cpu = time.monotonic(), cpu_seconds(child.pid)
        latencies = []
        for number in range(envelopes):
            delivery = socket_mode.deliver(
                "events_api", {"type": "event_callback", "event_id": f"Ev{number}"}
            )
            if delivery.acked and delivery.ack_seconds is not None:
                latencies.append(delivery.ack_seconds * 1000)
        busy = time.monotonic() - started
        cpu_per = (cpu_seconds(child.pid) - cpu - idle_rate * busy) / envelopes
        result: dict[str, object] = {
            "acked": len(latencies),
            "ack p50 ms": statistics.median(latencies) if latencies else float("nan"),
            "cpu per envelope us": cpu_per * 1e6,
            "idle cpu %": idle_rate * 100,
        }
        result["drop (FIN)"] = replaced_in(socket_mode, lambda: socket_mode.drop())
        result["drop (RST)"] = replaced_in(socket_mode, lambda: socket_mode.drop(reset=True))
        silent: list[str] = []
        result["silent"] = replaced_in(socket_mode, lambda: silent.append(socket_mode.silence()))
        if silent:
            try:
                socket_mode.drop(silent[0])
            except AssertionError:
                pass  # the client closed it itself
        result["disconnect"] = replaced_in(
            socket_mode, lambda: socket_mode.disconnect(reason="refresh_requested")
        )
        result["still acks"] = socket_mode.deliver("events_api", {"type": "event_callback"}).acked
        return result
    finally:
        child.terminate()
        child.join(timeout=10)
        socket_mode.stop()
        slack.stop()


def part_clients(args: argparse.Namespace) -> None:
    print(f"\n== Socket Mode clients (ping every {args.ping:g} s, {args.envelopes} envelopes one at a time)")
    header = (
        f"{'client':<30} | {'drop FIN':>9} {'drop RST':>9} {'silent':>9} {'disconn.':>9} | {'ack p50':>8} "
        f"{'CPU/env':>9} {'idle CPU':>8} | ok"
    )
    print(header)
    for kind, module in CLIENTS.items():
        if module is not None and importlib.util.find_spec(module) is None:
            print(f"{kind:<30} | skipped: `{module}` is not installed")
            continue
        r = measure_client(kind, args.ping, args.envelopes)
        print(
            f"{kind:<30} | {seconds(r['drop (FIN)']):>9} {seconds(r['drop (RST)']):>9} "  # type: ignore[arg-type]
            f"{seconds(r['silent']):>9} {seconds(r['disconnect']):>9} | "  # type: ignore[arg-type]
            f"{r['ack p50 ms']:>6.2f}ms {r['cpu per envelope us']:>7.0f}us {r['idle cpu %']:>7.1f}% | "
            f"{'yes' if r['still acks'] and r['acked'] == args.envelopes else 'NO'}",
            flush=True,
        )


# --- the whole bot and the bare app -------------------------------------------------------------------------


def command(slack: SlackEmulator, text: str) -> dict:
    """A slash command's Socket Mode payload (the form fields Slack would have POSTed)."""
    body, _ = slack.prepared_request("command", REPORTER, text=text, channel_id=INTAKE)
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def part_reconnect(args: argparse.Namespace) -> None:
    print("\n== phishbot run, Socket Mode, 2 connections, default ping (5 s): replacement times")
    with tempfile.TemporaryDirectory(prefix="phishbot-bench-") as tmp:
        workdir = Path(tmp)
        tls = make_tls(workdir / "tls")
        graph = GraphEmulator(tls, verdict_after=3600).start()
        slack, socket_mode = emulators(ping_timeout=600.0)
        workspace(slack)
        environment = bot_environment(slack, graph, tls, workdir, mode="socket", app_token=APP_TOKEN)
        process, port = start_phishbot(environment, workdir, "phishbot")
        try:
            socket_mode.wait_for_connections(2, timeout=30)
            failures: list[Delivery] = []
            stop = threading.Event()

            def keep_reporting() -> None:
                number = 0
                while not stop.is_set():
                    number += 1
                    delivery = socket_mode.deliver(
                        SLASH_COMMANDS, command(slack, f"https://r{number}.example/")
                    )
                    if not delivery.acked:
                        failures.append(delivery)
                    stop.wait(0.05)

            print(f"{'fault':<34} | {'replaced in':>11} | commands meanwhile")
            for name, fault in (
                ("drop (FIN, no close frame)", lambda: socket_mode.drop()),
                ("drop (RST)", lambda: socket_mode.drop(reset=True)),
                ("disconnect refresh_requested", lambda: socket_mode.disconnect(reason="refresh_requested")),
                ("disconnect warning", lambda: socket_mode.disconnect(reason="warning")),
                ("silent (half-open)", lambda: socket_mode.silence()),
            ):
                failures.clear()
                sent_before = len(socket_mode.deliveries)
                stop.clear()
                reporter = threading.Thread(target=keep_reporting, daemon=True)
                reporter.start()
                time.sleep(0.5)
                took = replaced_in(socket_mode, fault, count=2)
                time.sleep(0.5)
                stop.set()
                reporter.join()
                sent = len(socket_mode.deliveries) - sent_before
                print(
                    f"{name:<34} | {seconds(took):>11} | {sent - len(failures)} of {sent} answered",
                    flush=True,
                )
                for connection in socket_mode.live():
                    if connection.state == "silent":
                        socket_mode.drop(connection.id)
                socket_mode.wait_for_connections(2, timeout=60)
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
            up, wanted = ready.get("socket_connections"), ready.get("socket_connections_wanted")
            print(f"/readyz: socket_connections={up} of {wanted}")
        finally:
            process.terminate()
            process.wait(timeout=60)
            socket_mode.stop()
            slack.stop()
            graph.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", nargs="?", default="all", choices=["all", "clients", "reconnect"])
    parser.add_argument("--ping", type=float, default=10.0, help="ping interval of every client (clients)")
    parser.add_argument("--envelopes", type=int, default=2000, help="envelopes per client (clients)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    # The emulators' threads record when each ack arrives: let them have the GIL sooner than every 5 ms.
    sys.setswitchinterval(0.001)
    if sys.platform != "linux":
        print("bench.socket reads CPU time from /proc: Linux only", file=sys.stderr)
        return 2
    if args.part in ("all", "clients"):
        part_clients(args)
    if args.part in ("all", "reconnect"):
        part_reconnect(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Starting and stopping a whole phishbot process: services, Slack connection, web server, scheduler."""

from __future__ import annotations

import logging

from bot.app import Services, build_services, create_app
from bot.config import Settings
from bot.scheduler import Sweeper
from bot.web import Health, WebServer, make_wsgi_app

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, *, host: str = "0.0.0.0") -> None:  # noqa: S104 - Slack must reach it
        self.settings = settings
        self._host = host
        self.services: Services | None = None
        self._web: WebServer | None = None
        self._socket = None
        self._sweeper: Sweeper | None = None
        self.health: Health | None = None
        self._app = None
        self._listener_executor = None

    @property
    def port(self) -> int:
        if self._web is None:
            raise RuntimeError("not started")
        return self._web.port

    def start(self) -> Runtime:
        settings = self.settings
        services = self.services = build_services(settings)
        services.store.migrate()
        app = self._app = create_app(services)
        self._listener_executor = app.listener_runner.listener_executor
        sweeper = self._sweeper = Sweeper(services.follow_up.sweep, every_seconds=settings.sweep_seconds)
        self.health = Health({"database": services.store.ping, "scheduler": lambda: sweeper.running})
        slack_handler = None
        if settings.mode == "http":
            from slack_bolt.adapter.wsgi import SlackRequestHandler

            slack_handler = SlackRequestHandler(app, path="/slack/events")
        self._web = WebServer(
            make_wsgi_app(slack_handler, self.health), host=self._host, port=settings.port
        ).start()
        if settings.mode == "socket":
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            assert settings.slack_app_token is not None  # noqa: S101 - guaranteed by Settings validation
            self._socket = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
            self._socket.connect()
        sweeper.start()
        log.info(
            "phishbot is serving (%s mode, port %s, SOC channel %s, %d intake channel(s))",
            settings.mode,
            self._web.port,
            settings.soc_channel,
            len(settings.intake_channels),
        )
        return self

    def stop(self) -> None:
        if self.health is not None:
            self.health.serving = False
        if self._socket is not None:
            try:
                self._socket.close()
            except Exception:  # noqa: BLE001 - closing a dead socket must not stop the shutdown
                log.warning("socket mode connection did not close cleanly", exc_info=True)
        if self._sweeper is not None:
            self._sweeper.stop(wait=True)
        if self._web is not None:
            self._web.stop()
        if self._listener_executor is not None:
            # Let listeners that already acked finish their work (a submission in flight, a card edit).
            self._listener_executor.shutdown(wait=True, cancel_futures=False)
        if self.services is not None:
            self.services.close()
        log.info("phishbot stopped")

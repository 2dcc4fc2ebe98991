"""SQLite takes one writer at a time: this process's transactions queue for it in order of urgency, handed the
file the moment it is free (not after SQLite's busy handler's next sleep), and a request Slack waits for goes
first."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from bot.store import Database


def test_an_urgent_transaction_goes_before_those_already_waiting(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'writers.db'}")
    with database.session() as session:
        session.execute(text("CREATE TABLE log (who TEXT)"))
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with database.session() as session:
            session.execute(text("INSERT INTO log VALUES ('first')"))
            holding.set()
            release.wait(10)

    def write(who: str, urgent: bool) -> None:
        with database.session(urgent=urgent) as session:
            session.execute(text(f"INSERT INTO log VALUES ('{who}')"))
            order.append(who)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    normal = [threading.Thread(target=write, args=(f"card-{n}", False)) for n in range(3)]
    for thread in normal:
        thread.start()
    time.sleep(0.2)  # they are queued behind the holder
    urgent = threading.Thread(target=write, args=("ack", True))
    urgent.start()
    time.sleep(0.2)
    release.set()
    for thread in (holder, *normal, urgent):
        thread.join(10)
    assert order[0] == "ack" and sorted(order[1:]) == ["card-0", "card-1", "card-2"]
    with database.session() as session:
        assert session.execute(text("SELECT count(*) FROM log")).scalar() == 5
    database.close()

"""Card posts: the one card per case in the SOC channel, posted once (claimed first), then redrawn when dirty.

A draw is claimed too (`take_card_dirty`): one drawer per card at a time, in any replica, and not sooner than an
interval after the last draw began. Changes meanwhile only set the dirty flag again, so however many reporters join
a case, their changes are folded into the next draw, which shows the newest state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update

from bot.store.database import survives_reconnect
from bot.store.models import CaseRow
from bot.store.repository import CARD_CLAIM_LEASE, Repository, changed


class CardPosts(Repository):
    """Who posts a case's card, where it is, and whether it needs drawing again."""

    @survives_reconnect
    def claim_card_post(self, case_id: int, now: datetime | None = None) -> bool:
        """True for the one worker that may post the case's first card."""
        now = now or self._now()
        with self._session() as session:
            return (
                changed(
                    session,
                    update(CaseRow)
                    .where(CaseRow.id == case_id)
                    .where(CaseRow.card_ts.is_(None))
                    .where(
                        (CaseRow.card_claimed_at.is_(None))
                        | (CaseRow.card_claimed_at <= now - CARD_CLAIM_LEASE)
                        | self._orphaned(CaseRow.card_claimed_by, now)
                    )
                    .values(card_claimed_at=now, card_claimed_by=self.worker_id),
                )
                == 1
            )

    @survives_reconnect
    def card_claim_time(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(select(CaseRow.card_claimed_at).where(CaseRow.id == case_id))

    @survives_reconnect
    def record_card_posted(self, case_id: int, channel: str, ts: str) -> None:
        with self._session() as session:
            changed(
                session,
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .values(card_channel=channel, card_ts=ts, card_claimed_by=None),
            )

    @survives_reconnect
    def release_card_claim(self, case_id: int) -> None:
        with self._session() as session:
            changed(
                session,
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.card_ts.is_(None))
                .values(card_claimed_at=None, card_claimed_by=None),
            )

    @survives_reconnect
    def forget_card(self, case_id: int) -> None:
        """The card is gone from Slack (deleted): the next sync posts a new one."""
        with self._session() as session:
            changed(
                session,
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .values(card_channel=None, card_ts=None, card_claimed_at=None, card_claimed_by=None),
            )

    @survives_reconnect
    def card_location(self, case_id: int) -> tuple[str, str] | None:
        with self._session() as session:
            row = session.execute(
                select(CaseRow.card_channel, CaseRow.card_ts).where(CaseRow.id == case_id)
            ).one()
            return (row.card_channel, row.card_ts) if row.card_ts else None

    @survives_reconnect
    def take_card_dirty(self, case_id: int, min_interval: timedelta = timedelta(0)) -> bool:
        """Claim the card's next draw and clear its dirty flag. True if it was dirty, nobody is drawing it and its
        last draw began `min_interval` ago or more; or if a worker that died was drawing it (its draw began long
        ago). The caller then draws it, and says `card_drawn` after. A card left dirty is the sweep's to draw."""
        now = self._now()
        with self._session() as session:
            return (
                changed(
                    session,
                    update(CaseRow)
                    .where(CaseRow.id == case_id)
                    .where(
                        (
                            CaseRow.card_dirty.is_(True)
                            & CaseRow.card_drawing_by.is_(None)
                            & self._drawn_before(now - min_interval)
                        )
                        | self._orphaned(CaseRow.card_drawing_by, now)
                    )
                    .values(card_dirty=False, card_drawing_by=self.worker_id, card_drawn_at=now),
                )
                == 1
            )

    @staticmethod
    def _drawn_before(moment: datetime) -> ColumnElement[bool]:
        return CaseRow.card_drawn_at.is_(None) | (CaseRow.card_drawn_at <= moment)

    @survives_reconnect
    def card_drawn(self, case_id: int) -> None:
        """The draw that `take_card_dirty` started is over (whether Slack took it or the card is dirty again)."""
        with self._session() as session:
            changed(
                session,
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.card_drawing_by == self.worker_id)
                .values(card_drawing_by=None),
            )

    @survives_reconnect
    def case_updated_at(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(select(CaseRow.updated_at).where(CaseRow.id == case_id))

    @survives_reconnect
    def mark_card_dirty(self, case_id: int) -> None:
        with self._session() as session:
            changed(session, update(CaseRow).where(CaseRow.id == case_id).values(card_dirty=True))

    @survives_reconnect
    def cards_to_draw(self, min_interval: timedelta, limit: int = 100) -> list[int]:
        """The cards `take_card_dirty(case_id, min_interval)` would let a worker draw now."""
        now = self._now()
        with self._session() as session:
            return list(
                session.scalars(
                    select(CaseRow.id)
                    .where(
                        (
                            CaseRow.card_dirty.is_(True)
                            & CaseRow.card_drawing_by.is_(None)
                            & self._drawn_before(now - min_interval)
                        )
                        | self._orphaned(CaseRow.card_drawing_by, now)
                    )
                    .order_by(CaseRow.id)
                    .limit(limit)
                )
            )

    @survives_reconnect
    def dirty_cards(self, limit: int = 100) -> list[int]:
        """Every card still to draw, whenever it may be drawn (what a test waits to see empty)."""
        with self._session() as session:
            return list(
                session.scalars(
                    select(CaseRow.id)
                    .where(
                        CaseRow.card_dirty.is_(True) | self._orphaned(CaseRow.card_drawing_by, self._now())
                    )
                    .order_by(CaseRow.id)
                    .limit(limit)
                )
            )

"""Card posts: the one card per case in the SOC channel, posted once (claimed first), then redrawn when dirty."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

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
    def take_card_dirty(self, case_id: int) -> bool:
        """Clear the case's dirty flag; True if it was set, or if a worker that died was drawing the card (the
        caller then draws it, and says `card_drawn` after)."""
        with self._session() as session:
            return (
                changed(
                    session,
                    update(CaseRow)
                    .where(CaseRow.id == case_id)
                    .where(
                        CaseRow.card_dirty.is_(True) | self._orphaned(CaseRow.card_drawing_by, self._now())
                    )
                    .values(card_dirty=False, card_drawing_by=self.worker_id),
                )
                == 1
            )

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
    def dirty_cards(self, limit: int = 100) -> list[int]:
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

"""The Slack contract: every id Slack sends back to phishbot, in one place (design §4).

The slash command, the shortcut and modal callback ids and every button's action_id are stable: manifest.yml,
Slack's stored views and outside checks name them, and the audit log records a responder's action by its
action_id. Views put them on the blocks, handlers listen for them, services audit by them; nothing else spells
them out.
"""

from __future__ import annotations

from enum import StrEnum


class SlashCommand(StrEnum):
    REPORT = "/report-phish"


class ShortcutCallback(StrEnum):
    # A message shortcut: a global shortcut of that id would carry no message.
    REPORT_MESSAGE = "report_phish_message"


class ModalCallback(StrEnum):
    REPORT = "report.submit"
    PURGE = "purge.submit"
    BLOCK = "block.submit"
    REVIEW = "review.submit"  # Mark as … and notify: the category chosen, confirmed


class ActionId(StrEnum):
    """Buttons on the case card and on the resubmit choice; a button's value holds the case id only."""

    RESUBMIT = "report.resubmit"
    RESUBMIT_NOW = "report.resubmit_now"
    RESUBMIT_LATER = "report.resubmit_later"
    DISMISS = "report.dismiss"
    PURGE = "report.purge"
    RESTORE = "report.restore"
    WHO_CLICKED = "report.who_clicked"
    BLOCK = "report.block"
    REVIEW = "report.review"  # Mark as … and notify, on cases with an employee's Report-button submission
    HOME_REPORT = "home.report"  # App Home: open the report form


class EventType(StrEnum):
    """Events API events phishbot subscribes to (manifest.yml settings.event_subscriptions.bot_events)."""

    MESSAGE = "message"
    APP_HOME_OPENED = "app_home_opened"


HOME_TAB = "home"  # app_home_opened's `tab` when the person opened the Home tab (not Messages)

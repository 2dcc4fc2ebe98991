"""Block Kit as data: pure functions from a case to (fallback text, blocks), the modals, and their readers.

No I/O here. Every attacker string goes through `bot.slack.safe_text` on its way in; every list is bounded
here, once, so a card is never rejected by Slack whatever the report holds (slack.md §3.2 limits).
Only our own markup is live: `<@U…>` mentions of reporters (Slack ids we got from Slack), Slack
date tokens, and the link to the Defender portal. The ids the views put on buttons and modals are
`bot.slack.contract`'s.
"""

from bot.slack.cards.app_home import app_home
from bot.slack.cards.block_modal import BlockForm, block_modal, read_block_modal
from bot.slack.cards.blockkit import BlockKit, notice, slack_date
from bot.slack.cards.case_card import case_card
from bot.slack.cards.case_response import remediation_line, restorable_purge
from bot.slack.cards.purge_modal import (
    PurgeForm,
    purge_modal,
    purge_modal_loading,
    purge_modal_problem,
    read_purge_modal,
)
from bot.slack.cards.report_modal import (
    RECENT_LOADING,
    RecentEmail,
    ReportForm,
    read_report_modal,
    report_modal,
)
from bot.slack.cards.reporter_messages import (
    CaseLine,
    reporter_ack,
    reporter_outcome,
    reporter_review,
    status_list,
)
from bot.slack.cards.responder_replies import resubmit_choice, who_clicked
from bot.slack.cards.review_modal import ReviewForm, read_review_modal, review_modal

__all__ = [
    "RECENT_LOADING",
    "BlockForm",
    "BlockKit",
    "CaseLine",
    "PurgeForm",
    "RecentEmail",
    "ReportForm",
    "ReviewForm",
    "app_home",
    "block_modal",
    "case_card",
    "notice",
    "purge_modal",
    "purge_modal_loading",
    "purge_modal_problem",
    "read_block_modal",
    "read_purge_modal",
    "read_report_modal",
    "read_review_modal",
    "remediation_line",
    "report_modal",
    "reporter_ack",
    "reporter_outcome",
    "reporter_review",
    "restorable_purge",
    "resubmit_choice",
    "review_modal",
    "slack_date",
    "status_list",
    "who_clicked",
]

"""Errors that reach a person, and the one place that turns any failure into words for them."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


class ReportProblem(Exception):
    """The report cannot be taken as it is; the message says why, in words for the reporter."""


def explain(exc: BaseException) -> str:
    """A sentence for a person. Never contains a token, a secret or a traceback."""
    if isinstance(exc, ReportProblem):
        return str(exc)
    # Imported here: bot.graph depends on nothing in this module, and this keeps the import graph acyclic.
    from bot.graph import AuthError, GraphError

    if isinstance(exc, AuthError):
        return "phishbot could not sign in to Microsoft. Security has been told; your report is kept."
    if isinstance(exc, GraphError):
        if exc.retryable:
            return (
                "Microsoft Defender is not answering right now. Your report is kept and will be sent shortly."
            )
        return "Microsoft Defender refused the submission. Security has been told."
    if isinstance(exc, SlackApiError):
        return "Slack did not accept a request from phishbot. Please try again in a minute."
    return "Something went wrong on phishbot's side. Security has been told; please try again later."

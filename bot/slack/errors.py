"""Errors that reach a person, and the one place that turns any failure into words for them."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot.slack import i18n as messages


class ReportProblem(Exception):
    """The report cannot be taken as it is. `key` names the message in bot.slack.i18n (its `params` fill it
    in), so the reporter reads it in their language; `str()` is the English sentence, for logs."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(messages.text(messages.ENGLISH, key, **params))
        self.key = key
        self.params = params

    def words(self, language: str) -> str:
        return messages.text(language, self.key, **self.params)


def explain(exc: BaseException, language: str = messages.ENGLISH) -> str:
    """A sentence for a person. Never contains a token, a secret or a traceback."""
    if isinstance(exc, ReportProblem):
        return exc.words(language)
    # Imported here: bot.microsoft.graph depends on nothing in this module, and this keeps the import graph acyclic.
    from bot.microsoft import AuthError, GraphError

    if isinstance(exc, AuthError):
        return messages.text(language, "error.graph_auth")
    if isinstance(exc, GraphError):
        return messages.text(language, "error.graph_busy" if exc.retryable else "error.graph_refused")
    if isinstance(exc, SlackApiError):
        return messages.text(language, "error.slack")
    return messages.text(language, "error.generic")

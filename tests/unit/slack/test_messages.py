"""The reporter-facing message catalogs: every message in every language, with the same placeholders, and the
language picked from the Slack locale."""

from __future__ import annotations

import pytest

from bot.microsoft import AuthError, GraphError
from bot.slack import i18n as messages
from bot.slack.errors import ReportProblem, explain


def test_every_language_has_every_message_with_the_same_placeholders():
    english = messages.CATALOGS[messages.ENGLISH]
    for language, catalog in messages.CATALOGS.items():
        assert set(catalog) == set(english), language
        for key, template in catalog.items():
            assert messages.placeholders(template) == messages.placeholders(english[key]), (language, key)
            assert template.strip() and template != english[key] or language == messages.ENGLISH, (
                language,
                key,
            )


@pytest.mark.parametrize(
    ("locale", "language"),
    [("nl-NL", "nl"), ("nl-BE", "nl"), ("nl", "nl"), ("NL_be", "nl"), ("en-US", "en"), ("fr-FR", "en"),
     ("", "en"), (None, "en"), ("nld", "en")],
)  # fmt: skip
def test_language_from_the_slack_locale(locale, language):
    assert messages.language_for(locale) == language


def test_nested_phrases_render_in_the_same_language():
    reason = messages.Phrase("parse.too_large", {"size": "30.0 MB", "limit": "25.0 MB"})
    assert messages.text("nl", "email.unreadable", reason=reason) == (
        "Dat bestand is geen e-mail die phishbot kan lezen: de e-mail is 30.0 MB; het maximum is 25.0 MB."
    )
    assert messages.text("en", "email.unreadable", reason=reason).endswith("the largest accepted is 25.0 MB.")


def test_unknown_keys_and_languages_fall_back():
    assert messages.text("de", "status.title") == "Your recent reports"
    assert messages.text("nl", "A sentence, not a key.") == "A sentence, not a key."


def test_problems_and_errors_in_words_of_the_reporters_language():
    problem = ReportProblem("file.too_large", name="x.eml", size="30.0 MB", limit="25.0 MB")
    assert str(problem) == "x.eml is 30.0 MB; the largest report accepted is 25.0 MB."
    assert explain(problem, "nl") == "x.eml is 30.0 MB; de grootste melding die wordt aangenomen is 25.0 MB."
    assert explain(AuthError("secret detail"), "nl").startswith("phishbot kon niet aanmelden bij Microsoft")
    assert "secret detail" not in explain(AuthError("secret detail"))
    assert explain(GraphError("x", retryable=True), "nl").startswith("Microsoft Defender antwoordt nu niet")
    assert explain(RuntimeError("boom")) == messages.text("en", "error.generic")

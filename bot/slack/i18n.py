"""What phishbot says to reporters, in their language: one catalog per language, one key per message.

The language comes from the reporter's Slack locale (`users.info` with `include_locale`): Dutch for `nl-*`
(nl-NL, nl-BE), English for everything else. Only reporter-facing words live here (acknowledgements,
outcomes, refusals and notices); the SOC card and responders' messages stay English. Placeholders are
`str.format` fields; the values (a subject, a file name) are made safe by the caller before they come in.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

ENGLISH = "en"
DUTCH = "nl"
LANGUAGES = (ENGLISH, DUTCH)


def language_for(locale: str | None) -> str:
    """The catalog for a Slack locale such as "nl-NL", "nl-BE" or "en-GB"; English when unknown."""
    code = (locale or "").strip().lower().replace("_", "-")
    return DUTCH if code == "nl" or code.startswith("nl-") else ENGLISH


@dataclass(frozen=True)
class Phrase:
    """A message to be put into another one, rendered in the same language (e.g. why a file is unreadable)."""

    key: str
    params: dict[str, object] = field(default_factory=dict)


def text(language: str, key: str, **params: object) -> str:
    """The message `key` in `language` (English when the language or key is missing there). A `Phrase`
    value is rendered in the same language.

    A key no catalog knows is returned as it is, so a sentence passed where a key was expected still reads."""
    catalog = CATALOGS.get(language) or CATALOGS[ENGLISH]
    template = catalog.get(key) or CATALOGS[ENGLISH].get(key)
    if template is None:
        return key
    values = {
        name: text(language, value.key, **value.params) if isinstance(value, Phrase) else value
        for name, value in params.items()
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


ENGLISH_CATALOG: dict[str, str] = {
    # --- acknowledgements --------------------------------------------------------------------------------------
    "ack.new": (
        "Thanks — Security has your report of {item}. Microsoft Defender is analysing it; you'll hear the "
        "outcome here."
    ),
    "ack.joined.link": "Thanks — this link was already reported; your report was added to the case.",
    "ack.joined.message": "Thanks — this message was already reported; your report was added to the case.",
    "ack.joined.pending": "Microsoft Defender is still analysing it; you'll hear the outcome here.",
    "ack.already": "You have already reported this. Security has it; you'll hear the outcome here.",
    "ack.original_not_found": (
        "phishbot could not find the original email in your mailbox, so Security got your forward as it "
        "arrived. Next time, forward it as an attachment or use /report-phish to pick it from your recent emails."
    ),
    "ack.links_capped": "Only the first {shown} of the {count} links in that message were reported.",
    # --- what was reported, inside a sentence ------------------------------------------------------------------
    "item.link": "the link {url}",
    "item.link_unnamed": "a link",
    "item.email": "the email “{subject}”",
    "item.email_unnamed": "an email with no subject",
    # --- outcomes ----------------------------------------------------------------------------------------------
    "outcome.dismissed": (
        "Security looked at your report of {item} and found it isn't a threat. Thanks for reporting it."
    ),
    "outcome.gave_up": (
        "Microsoft didn't give a verdict on {item} in time; Security will review it by hand. {wait}"
    ),
    "outcome.pending": "Microsoft Defender is still analysing {item}; you'll hear the outcome here.",
    "outcome.simulation": (
        "About {item}: this was a phishing simulation run by your organisation — well spotted."
    ),
    "outcome.malicious": "About {item}: it was malicious. {careful}",
    "outcome.spam": (
        "About {item}: Microsoft found it to be spam — unwanted, but not dangerous. You can delete it."
    ),
    "outcome.clean": (
        "About {item}: Microsoft found no threat in it. If it still looks wrong to you, tell Security. "
        "Thanks for reporting it."
    ),
    "outcome.unclear": (
        "About {item}: Microsoft couldn't reach a clear verdict; Security will review it. {wait}"
    ),
    "careful.link": "Don't open it; if you did and typed anything into the page, tell Security now.",
    "careful.email": (
        "Don't click its links or open its attachments; if you did, tell Security now. You can delete it."
    ),
    "wait.link": "Until then, don't open it.",
    "wait.email": "Until then, don't click its links or open its attachments.",
    # --- a responder's Mark as … and notify, and the App Home ---------------------------------------------------
    "review.phishing": "Security reviewed your report of {item}: it is phishing. {careful}",
    "review.malware": "Security reviewed your report of {item}: it carries malware. {careful}",
    "review.spam": (
        "Security reviewed your report of {item}: it is spam — unwanted, but not dangerous. You can delete it."
    ),
    "review.notJunk": (
        "Security reviewed your report of {item}: it is a legitimate message, not junk. Thanks for reporting it."
    ),
    "home.title": "Your reports",
    "home.intro": (
        "Report a suspicious email or link: Security sends it to Microsoft Defender, and you see here what it "
        "was and what to do."
    ),
    "home.report": "Report an email or link",
    "home.none": "You haven't reported anything yet.",
    "home.more": "Your older reports: `/report-phish status`.",
    "home.reported": "reported {date}{door}",
    "home.door.report_button": " with the Report button",
    "home.state.pending": "Microsoft Defender is analysing it. {wait}",
    "home.state.malicious": "Microsoft: malicious. {careful}",
    "home.state.spam": "Microsoft: spam — unwanted, but not dangerous. You can delete it.",
    "home.state.clean": "Microsoft: no threat found. If it still looks wrong to you, tell Security.",
    "home.state.simulation": "A phishing simulation by your organisation — well spotted.",
    "home.state.dismissed": "Security looked at it: not a threat.",
    "home.state.gave_up": "No verdict from Microsoft in time; Security reviews it by hand. {wait}",
    "home.state.unclear": "Microsoft couldn't reach a clear verdict; Security reviews it. {wait}",
    "home.reviewed.phishing": "Security marked it as phishing.",
    "home.reviewed.malware": "Security marked it as malware.",
    "home.reviewed.spam": "Security marked it as spam.",
    "home.reviewed.notJunk": "Security marked it as not junk.",
    # --- your reports ------------------------------------------------------------------------------------------
    "status.none": (
        "You haven't reported anything yet. Use `/report-phish` to report a suspicious email or link."
    ),
    "status.title": "Your recent reports",
    # --- refusals and problems ---------------------------------------------------------------------------------
    "url.one_at_a_time": "Send one URL at a time, e.g. `/report-phish https://suspicious.example/login`.",
    "url.too_long": "That URL is longer than {limit} characters; Microsoft will not take it.",
    "url.not_web": (
        "That does not look like a web address. Use `/report-phish https://…`, or `/report-phish` alone to"
        " upload an email."
    ),
    "email.unreadable": "That file is not an email phishbot can read: {reason}",
    "parse.empty": "the report is empty: there is no email in it.",
    "parse.too_large": "the email is {size}; the largest accepted is {limit}.",
    "parse.not_email": (
        "it doesn't look like an email (it doesn't start with mail header lines such as From: and Subject:)."
    ),
    "parse.msg_unreadable": "the Outlook .msg file is damaged and could not be read.",
    "reporter.no_email": (
        "phishbot needs your work email address to send this to Microsoft, and Slack has none for you"
        " (guest and bot accounts have none). Ask Security to report it for you."
    ),
    "file.too_large": "{name} is {size}; the largest report accepted is {limit}.",
    "file.larger_than": "{name} is larger than {limit}, the largest report accepted.",
    "file.no_download": "Slack did not give phishbot a way to download {name}.",
    "file.download_failed": "phishbot could not download {name} from Slack; please try again.",
    "file.refused": "Slack refused to hand {name} to phishbot (HTTP {status}).",
    "file.sign_in_page": (
        "Slack would not let phishbot read {name} (the app may lack the files:read scope). Security has been told."
    ),
    "file.not_visible": "phishbot could not read that file from Slack (is the app in this channel?).",
    "shortcut.nothing": (
        "There is nothing phishbot can report in that message: no email, no .eml or .msg file and no link."
    ),
    "mailbox.gone": (
        "phishbot could not fetch that email from your mailbox (it may have been moved or deleted). "
        "Try again, or upload it as a .eml file."
    ),
    "mailbox.unavailable": (
        "phishbot cannot read mailboxes in this organisation, so it cannot pick your recent emails. "
        "Upload the email as a .eml or .msg file instead."
    ),
    "error.slack": "Slack did not accept a request from phishbot. Please try again in a minute.",
    "error.database": (
        "phishbot could not record your report: its database is not answering. Please report it again in a few"
        " minutes."
    ),
    "error.graph_auth": "phishbot could not sign in to Microsoft. Security has been told; your report is kept.",
    "error.graph_busy": (
        "Microsoft Defender is not answering right now. Your report is kept and will be sent shortly."
    ),
    "error.graph_refused": "Microsoft Defender refused the submission. Security has been told.",
    "error.generic": (
        "Something went wrong on phishbot's side. Security has been told; please try again later."
    ),
}

DUTCH_CATALOG: dict[str, str] = {
    "ack.new": (
        "Bedankt — Security heeft je melding van {item} ontvangen. Microsoft Defender analyseert het; je hoort "
        "de uitkomst hier."
    ),
    "ack.joined.link": "Bedankt — deze link was al gemeld; je melding is aan de zaak toegevoegd.",
    "ack.joined.message": "Bedankt — dit bericht was al gemeld; je melding is aan de zaak toegevoegd.",
    "ack.joined.pending": "Microsoft Defender analyseert het nog; je hoort de uitkomst hier.",
    "ack.already": "Je hebt dit al gemeld. Security heeft het; je hoort de uitkomst hier.",
    "ack.original_not_found": (
        "phishbot kon de oorspronkelijke e-mail niet in je mailbox vinden, dus Security heeft je doorgestuurde "
        "bericht gekregen zoals het binnenkwam. Stuur het de volgende keer door als bijlage, of kies het met "
        "/report-phish uit je recente e-mails."
    ),
    "ack.links_capped": "Alleen de eerste {shown} van de {count} links in dat bericht zijn gemeld.",
    "item.link": "de link {url}",
    "item.link_unnamed": "een link",
    "item.email": "de e-mail “{subject}”",
    "item.email_unnamed": "een e-mail zonder onderwerp",
    "outcome.dismissed": (
        "Security heeft je melding van {item} bekeken en het is geen dreiging. Bedankt voor het melden."
    ),
    "outcome.gave_up": (
        "Microsoft heeft niet op tijd een oordeel gegeven over {item}; Security bekijkt het zelf. {wait}"
    ),
    "outcome.pending": "Microsoft Defender analyseert {item} nog; je hoort de uitkomst hier.",
    "outcome.simulation": (
        "Over {item}: dit was een phishingsimulatie van je eigen organisatie — goed opgemerkt."
    ),
    "outcome.malicious": "Over {item}: het was kwaadaardig. {careful}",
    "outcome.spam": (
        "Over {item}: volgens Microsoft is het spam — ongewenst, maar niet gevaarlijk. Je kunt het verwijderen."
    ),
    "outcome.clean": (
        "Over {item}: Microsoft heeft er geen dreiging in gevonden. Vind je het nog steeds niet pluis, laat "
        "het Security weten. Bedankt voor het melden."
    ),
    "outcome.unclear": (
        "Over {item}: Microsoft kon geen duidelijk oordeel geven; Security bekijkt het. {wait}"
    ),
    "careful.link": (
        "Open hem niet; heb je dat wel gedaan en iets op de pagina ingevuld, meld het dan nu bij Security."
    ),
    "careful.email": (
        "Klik niet op de links en open geen bijlagen; heb je dat wel gedaan, meld het dan nu bij Security. "
        "Je kunt het bericht verwijderen."
    ),
    "wait.link": "Open hem tot die tijd niet.",
    "wait.email": "Klik tot die tijd niet op de links en open geen bijlagen.",
    "review.phishing": "Security heeft je melding van {item} bekeken: het is phishing. {careful}",
    "review.malware": "Security heeft je melding van {item} bekeken: er zit malware in. {careful}",
    "review.spam": (
        "Security heeft je melding van {item} bekeken: het is spam — ongewenst, maar niet gevaarlijk. Je kunt "
        "het verwijderen."
    ),
    "review.notJunk": (
        "Security heeft je melding van {item} bekeken: het is een echt bericht, geen ongewenste e-mail. "
        "Bedankt voor het melden."
    ),
    "home.title": "Je meldingen",
    "home.intro": (
        "Meld een verdachte e-mail of link: Security stuurt hem naar Microsoft Defender, en je ziet hier wat "
        "het was en wat je moet doen."
    ),
    "home.report": "Een e-mail of link melden",
    "home.none": "Je hebt nog niets gemeld.",
    "home.more": "Je oudere meldingen: `/report-phish status`.",
    "home.reported": "gemeld {date}{door}",
    "home.door.report_button": " met de knop Rapporteren",
    "home.state.pending": "Microsoft Defender analyseert het. {wait}",
    "home.state.malicious": "Microsoft: kwaadaardig. {careful}",
    "home.state.spam": "Microsoft: spam — ongewenst, maar niet gevaarlijk. Je kunt het verwijderen.",
    "home.state.clean": (
        "Microsoft: geen dreiging gevonden. Vind je het nog steeds niet pluis, laat het Security weten."
    ),
    "home.state.simulation": "Een phishingsimulatie van je eigen organisatie — goed opgemerkt.",
    "home.state.dismissed": "Security heeft het bekeken: geen dreiging.",
    "home.state.gave_up": "Geen oordeel van Microsoft op tijd; Security bekijkt het zelf. {wait}",
    "home.state.unclear": "Microsoft kon geen duidelijk oordeel geven; Security bekijkt het. {wait}",
    "home.reviewed.phishing": "Security heeft het gemarkeerd als phishing.",
    "home.reviewed.malware": "Security heeft het gemarkeerd als malware.",
    "home.reviewed.spam": "Security heeft het gemarkeerd als spam.",
    "home.reviewed.notJunk": "Security heeft het gemarkeerd als geen ongewenste e-mail.",
    "status.none": (
        "Je hebt nog niets gemeld. Gebruik `/report-phish` om een verdachte e-mail of link te melden."
    ),
    "status.title": "Je recente meldingen",
    "url.one_at_a_time": (
        "Stuur één URL tegelijk, bijvoorbeeld `/report-phish https://suspicious.example/login`."
    ),
    "url.too_long": "Die URL is langer dan {limit} tekens; Microsoft neemt hem niet aan.",
    "url.not_web": (
        "Dat lijkt geen webadres. Gebruik `/report-phish https://…`, of alleen `/report-phish` om een e-mail"
        " te uploaden."
    ),
    "email.unreadable": "Dat bestand is geen e-mail die phishbot kan lezen: {reason}",
    "parse.empty": "de melding is leeg: er zit geen e-mail in.",
    "parse.too_large": "de e-mail is {size}; het maximum is {limit}.",
    "parse.not_email": ("het lijkt geen e-mail (het begint niet met kopregels zoals From: en Subject:)."),
    "parse.msg_unreadable": "het Outlook-bestand (.msg) is beschadigd en kon niet worden gelezen.",
    "reporter.no_email": (
        "phishbot heeft je zakelijke e-mailadres nodig om dit naar Microsoft te sturen, en Slack heeft er"
        " geen voor je (gast- en botaccounts hebben er geen). Vraag Security om het voor je te melden."
    ),
    "file.too_large": "{name} is {size}; de grootste melding die wordt aangenomen is {limit}.",
    "file.larger_than": "{name} is groter dan {limit}, de grootste melding die wordt aangenomen.",
    "file.no_download": "Slack gaf phishbot geen manier om {name} te downloaden.",
    "file.download_failed": "phishbot kon {name} niet downloaden van Slack; probeer het nog eens.",
    "file.refused": "Slack weigerde {name} aan phishbot te geven (HTTP {status}).",
    "file.sign_in_page": (
        "Slack liet phishbot {name} niet lezen (de app mist misschien de scope files:read). Security is "
        "ingelicht."
    ),
    "file.not_visible": "phishbot kon dat bestand niet lezen in Slack (zit de app in dit kanaal?).",
    "shortcut.nothing": (
        "Er is niets in dat bericht dat phishbot kan melden: geen e-mail, geen .eml- of .msg-bestand en geen"
        " link."
    ),
    "mailbox.gone": (
        "phishbot kon die e-mail niet uit je mailbox halen (misschien is hij verplaatst of verwijderd). "
        "Probeer het opnieuw, of upload hem als .eml-bestand."
    ),
    "mailbox.unavailable": (
        "phishbot kan in deze organisatie geen mailboxen lezen, en dus je recente e-mails niet tonen. "
        "Upload de e-mail als .eml- of .msg-bestand."
    ),
    "error.slack": "Slack nam een verzoek van phishbot niet aan. Probeer het over een minuut opnieuw.",
    "error.database": (
        "phishbot kon je melding niet vastleggen: de database antwoordt niet. Meld het over een paar minuten"
        " opnieuw."
    ),
    "error.graph_auth": (
        "phishbot kon niet aanmelden bij Microsoft. Security is ingelicht; je melding is bewaard."
    ),
    "error.graph_busy": (
        "Microsoft Defender antwoordt nu niet. Je melding is bewaard en wordt zo snel mogelijk verstuurd."
    ),
    "error.graph_refused": "Microsoft Defender weigerde de melding. Security is ingelicht.",
    "error.generic": ("Er ging iets mis bij phishbot. Security is ingelicht; probeer het later nog eens."),
}

CATALOGS: dict[str, dict[str, str]] = {ENGLISH: ENGLISH_CATALOG, DUTCH: DUTCH_CATALOG}

"""Every Microsoft Graph enum member the bot shows, in words a responder understands.

Meanings follow Microsoft's own explanations:
- submissionResultDetail and userMailboxSetting: the beta `submissionResult` resource page,
  https://learn.microsoft.com/graph/api/resources/security-submissionresult?view=graph-rest-beta
  (microsoft-graph-docs-contrib api-reference/beta/resources/security-submissionresult.md, 2024-07-08);
- submissionResultCategory: "Submission result definitions",
  https://learn.microsoft.com/defender-office-365/submissions-result-definitions
  (MicrosoftDocs/defender-docs defender-office-365/submissions-result-definitions.md);
- SFV/CAT anti-spam header values: https://learn.microsoft.com/defender-office-365/message-headers-eop-mdo.

Microsoft adds members over time (and answers `unknownFutureValue` without the Prefer header), so
every lookup falls back to the member's name split into words; nothing here raises on a new member.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.domain import CaseStatus, Verdict

SUBMISSION_RESULT_CATEGORY: Mapping[str, str] = {
    "notJunk": "Not junk",
    "spam": "Spam",
    "phishing": "Phishing",
    "malware": "Malware",
    "allowedByPolicy": "Allowed by a policy in your organisation",
    "blockedByPolicy": "Blocked by a policy in your organisation",
    "spoof": "Spoofed sender",
    "unknown": "Unknown: Microsoft couldn't reach a decision",
    "noResultAvailable": "No result available",
    "unknownFutureValue": "A result this bot can't name yet",
    "beingAnalyzed": "Being analysed",
    "notSubmittedToMicrosoft": "Not submitted to Microsoft (user reported settings send reports to the "
    "reporting mailbox only)",
    "phishingSimulation": "Phishing simulation (part of your organisation's training)",
    "allowedDueToOrganizationOverride": "Allowed by an organisation override (Tenant Allow/Block List, "
    "mail flow rule, connection filter, advanced delivery or another policy setting)",
    "blockedDueToOrganizationOverride": "Blocked by an organisation override (Tenant Allow/Block List, "
    "mail flow rule, connection filter or another policy setting)",
    "allowedDueToUserOverride": "Allowed by the recipient's own Outlook settings (e.g. Safe Senders)",
    "blockedDueToUserOverride": "Blocked by the recipient's own Outlook settings (e.g. Blocked Senders)",
    "itemNotfound": "Item not found (deleted, or the submission was invalid)",
    "threatsFound": "Threats found",
    "noThreatsFound": "No threats found",
    "domainImpersonation": "Domain impersonation",
    "userImpersonation": "User impersonation",
    "brandImpersonation": "Brand impersonation",
    "authenticationFailure": "Failed email authentication",
    "spoofedBlocked": "Spoofed sender, blocked",
    "spoofedAllowed": "Spoofed sender, allowed",
    "reasonLostInTransit": "The reason for the verdict was lost in transit (hybrid mail flow)",
    "bulk": "Bulk mail",
}

SUBMISSION_RESULT_DETAIL: Mapping[str, str] = {
    "none": "Microsoft gave no further detail",
    "underInvestigation": "Microsoft is still analysing it",
    "simulatedThreat": "A phishing simulation sent for user training (allowed by advanced delivery)",
    "allowedBySecOps": "Allowed because it went to a SecOps mailbox (advanced delivery)",
    "allowedByThirdPartyFilters": "Allowed or blocked by a third-party filter in front of Microsoft 365 "
    "(configure Enhanced Filtering for Connectors)",
    "messageNotFound": "Microsoft couldn't find the message; upload the .eml to resubmit",
    "urlFileShouldNotBeBlocked": "The URL or file is clean; Microsoft's filters will learn it in weeks",
    "urlFileShouldBeBlocked": "The URL or file is malicious; Microsoft's filters will learn it in weeks",
    "urlFileCannotMakeDecision": "Microsoft can't decide on the URL or file yet; resubmit later",
    "domainImpersonation": "Allowed or blocked by domain impersonation settings (anti-phishing policy)",
    "userImpersonation": "Allowed or blocked by user impersonation settings (anti-phishing policy)",
    "brandImpersonation": "Allowed or blocked by brand impersonation protection",
    "outboundShouldNotBeBlocked": "Outgoing message found clean",
    "outboundShouldBeBlocked": "Outgoing message found malicious",
    "outboundBulk": "Outgoing message found to be spam or bulk",
    "outboundCannotMakeDecision": "Microsoft can't decide on the outgoing message yet; resubmit later",
    "outboundNotRescanned": "Microsoft couldn't find the outgoing message; upload the .eml to resubmit",
    "zeroHourAutoPurgeAllowed": "Zero-hour auto purge released it: found clean",
    "zeroHourAutoPurgeBlocked": "Zero-hour auto purge blocked or quarantined it: found malicious",
    "zeroHourAutoPurgeQuarantineReleased": "Released from quarantine although zero-hour auto purge "
    "quarantined it as malicious",
    "onPremisesSkip": "Not analysed: it went through on-premises Exchange (check your hybrid mail flow)",
    "allowedByTenantAllowBlockList": "Allowed by an entry in your Tenant Allow/Block List",
    "blockedByTenantAllowBlockList": "Blocked by an entry in your Tenant Allow/Block List",
    "allowedUrlByTenantAllowBlockList": "The URL is allowed in your Tenant Allow/Block List",
    "allowedFileByTenantAllowBlockList": "The file is allowed in your Tenant Allow/Block List",
    "allowedSenderByTenantAllowBlockList": "The sender is allowed in your Tenant Allow/Block List",
    "allowedRecipientByTenantAllowBlockList": "Outgoing: recipient allowed in your Tenant Allow/Block List",
    "blockedUrlByTenantAllowBlockList": "The URL is blocked in your Tenant Allow/Block List",
    "blockedFileByTenantAllowBlockList": "The file is blocked in your Tenant Allow/Block List",
    "blockedSenderByTenantAllowBlockList": "The sender is blocked in your Tenant Allow/Block List",
    "blockedRecipientByTenantAllowBlockList": "Outgoing: recipient blocked in your Tenant Allow/Block List",
    "allowedByConnection": "Allowed: the sending IP is in your connection filter policy (IP Allow List)",
    "blockedByConnection": "Blocked: the sending IP is in your connection filter policy (IP Block List)",
    "allowedByExchangeTransportRule": (
        "Allowed by an Exchange mail flow rule (transport rule) in your organisation"
    ),
    "blockedByExchangeTransportRule": (
        "Blocked by an Exchange mail flow rule (transport rule) in your organisation"
    ),
    "quarantineReleased": "Released from quarantine after Microsoft had quarantined it",
    "quarantineReleasedThenBlocked": "Released from quarantine, then blocked by the recipient's own settings",
    "junkMailRuleDisabled": "Would have gone to Junk, but the recipient's Junk Email folder is turned off",
    "allowedByUserSetting": "Allowed by the recipient's Safe Senders (trusted sender) settings in Outlook",
    "blockedByUserSetting": "Blocked by the recipient's Blocked Senders settings in Outlook",
    "allowedByTenant": "Allowed by a policy or policy action setting in your organisation",
    "blockedByTenant": "Blocked by a policy or policy action setting in your organisation",
    "invalidFalsePositive": "Already allowed by Microsoft's filtering",
    "invalidFalseNegative": "Already blocked by Microsoft's filtering",
    "spoofBlocked": "Blocked as a spoofed sender",
    "goodReclassifiedAsBad": "Malicious: Microsoft reclassified it as bad and quarantined existing copies",
    "goodReclassifiedAsBulk": "Spam: Microsoft reclassified it as bulk or spam",
    "goodReclassifiedAsGood": "Clean: Microsoft confirms it is good",
    "goodReclassifiedAsCannotMakeDecision": "Microsoft can't decide yet; resubmit later",
    "badReclassifiedAsGood": "Clean: Microsoft reclassified it as good and released existing copies",
    "badReclassifiedAsBulk": "Spam: Microsoft reclassified it as bulk or spam",
    "badReclassifiedAsBad": "Malicious: Microsoft confirms it is bad",
    "badReclassifiedAsCannotMakeDecision": "Microsoft can't decide yet; resubmit later",
    "unknownFutureValue": "A detail this bot can't name yet",
    "willNotifyOnceDone": "Microsoft will report back when the analysis is done",
    "checkUserReportedSettings": "Not sent to Microsoft: user reported settings send reports to the "
    "reporting mailbox only",
    "partOfEducationCampaign": "Part of a phishing education campaign (advanced delivery or Attack "
    "simulation training)",
    "allowedByAdvancedDelivery": "Allowed because it went to a SecOps mailbox (advanced delivery)",
    "allowedByEnhancedFiltering": "Allowed by Enhanced Filtering for Connectors",
    "itemDeleted": "Microsoft couldn't find the message (deleted); upload the .eml to resubmit",
    "itemFoundClean": "Microsoft found it clean",
    "itemFoundMalicious": "Microsoft found it malicious",
    "unableToMakeDecision": "Microsoft can't decide yet; resubmit later",
    "domainResembledYourOrganization": "The sender's domain resembles your organisation's",
    "endUserBeingImpersonated": "The sender impersonates someone in your organisation",
    "associatedWithBrand": "The content appears to impersonate a brand",
    "senderFailedAuthentication": "The sender failed email authentication",
    "endUserBeingSpoofed": "Blocked as spoofed: the sender pretends to be someone in your organisation",
    "itemFoundBulk": "Microsoft found it to be bulk mail",
    "itemNotReceivedByService": "Microsoft never received it: check policies or mail flow rules that "
    "stop submissions",
    "itemFoundSpam": "Microsoft found it to be spam",
}

USER_MAILBOX_SETTING: Mapping[str, str] = {
    "none": "No mailbox setting involved",
    "junkMailDeletion": "Junk email deletion applied in the recipient's mailbox",
    "isFromAddressInAddressBook": "The sender is in the recipient's address book",
    "isFromAddressInAddressSafeList": "The recipient has the sender in their Safe Senders list",
    "isFromAddressInAddressBlockList": "The recipient has the sender in their Blocked Senders list",
    "isFromAddressInAddressImplicitSafeList": "The sender is on the recipient's implicit safe list "
    "(for example a trusted contact)",
    "isFromAddressInAddressImplicitJunkList": "The sender is on the recipient's implicit junk list",
    "isFromDomainInDomainSafeList": "The recipient has the sender's domain in their Safe Senders list",
    "isFromDomainInDomainBlockList": "The recipient has the sender's domain in their Blocked Senders list",
    "isRecipientInRecipientSafeList": "The recipient address is in the Safe Recipients list",
    "customRule": "One of the recipient's own inbox rules handled it",
    # Not in Microsoft's table; read from the member name (a junk email rule, as opposed to customRule).
    "junkMailRule": "The recipient's junk email rule handled it",
    # Microsoft's table says only "from sender who presents before"; PRA = purported responsible address.
    "senderPraPresent": "A purported responsible address (PRA) sender was present",
    "fromFirstTimeSender": "First message from this sender to the recipient",
    "exclusive": "The recipient only accepts mail from their safe lists and contacts (Safe Lists Only)",
    "priorSeenPass": "Messages like this were seen before and passed",
    "senderAuthenticationSucceeded": "The sender passed email authentication",
    "isJunkMailRuleEnabled": "The recipient's junk email filter is on",
    "unknownFutureValue": "A mailbox setting this bot can't name yet",
}

LONG_RUNNING_OPERATION_STATUS: Mapping[str, str] = {
    "notStarted": "Not started",
    "running": "Running",
    "succeeded": "Finished",
    "failed": "Failed",
    "skipped": "Skipped",
    "unknownFutureValue": "A status this bot can't name yet",
}

SUBMISSION_CATEGORY: Mapping[str, str] = {
    "notJunk": "Not junk",
    "spam": "Spam",
    "phishing": "Phishing",
    "malware": "Malware",
    "unknownFutureValue": "Another category",
}

# The Graph enum each mapping covers, by its short name in the CSDL (tests check completeness).
ENUM_WORDS: Mapping[str, Mapping[str, str]] = {
    "submissionResultCategory": SUBMISSION_RESULT_CATEGORY,
    "submissionResultDetail": SUBMISSION_RESULT_DETAIL,
    "userMailboxSetting": USER_MAILBOX_SETTING,
    "longRunningOperationStatus": LONG_RUNNING_OPERATION_STATUS,
    "submissionCategory": SUBMISSION_CATEGORY,
}

# X-Forefront-Antispam-Report values worth a word (message-headers-eop-mdo.md); others show as they are.
ANTISPAM_SFV: Mapping[str, str] = {
    "BLK": "blocked: sender in the recipient's Blocked Senders",
    "NSPM": "not spam",
    "SFE": "allowed: sender in the recipient's Safe Senders",
    "SKA": "skipped spam filtering: allowed sender in an anti-spam policy",
    "SKB": "marked spam: blocked sender in an anti-spam policy",
    "SKN": "marked not spam before filtering (for example a mail flow rule)",
    "SKQ": "released from quarantine",
    "SKS": "marked spam before filtering (for example a mail flow rule)",
    "SPM": "marked spam by spam filtering",
}
ANTISPAM_CAT: Mapping[str, str] = {
    "AMP": "anti-malware",
    "BIMP": "brand impersonation",
    "BULK": "bulk",
    "DIMP": "domain impersonation",
    "FTBP": "common attachments filter",
    "GIMP": "mailbox intelligence impersonation",
    "HPHSH": "high confidence phishing",
    "HPHISH": "high confidence phishing",
    "HSPM": "high confidence spam",
    "INTOS": "intra-organisation phishing",
    "MALW": "malware",
    "OSPM": "outbound spam",
    "PHSH": "phishing",
    "SAP": "Safe Attachments",
    "SPM": "spam",
    "SPOOF": "spoofing",
    "UIMP": "user impersonation",
}

# --- details grouped by where the card shows them ------------------------------------------------------

POLICY_DETAILS = frozenset(
    {
        "allowedBySecOps",
        "allowedByThirdPartyFilters",
        "domainImpersonation",
        "userImpersonation",
        "brandImpersonation",
        "onPremisesSkip",
        "allowedByTenantAllowBlockList",
        "blockedByTenantAllowBlockList",
        "allowedUrlByTenantAllowBlockList",
        "allowedFileByTenantAllowBlockList",
        "allowedSenderByTenantAllowBlockList",
        "allowedRecipientByTenantAllowBlockList",
        "blockedUrlByTenantAllowBlockList",
        "blockedFileByTenantAllowBlockList",
        "blockedSenderByTenantAllowBlockList",
        "blockedRecipientByTenantAllowBlockList",
        "allowedByConnection",
        "blockedByConnection",
        "allowedByExchangeTransportRule",
        "blockedByExchangeTransportRule",
        "quarantineReleased",
        "quarantineReleasedThenBlocked",
        "junkMailRuleDisabled",
        "allowedByUserSetting",
        "blockedByUserSetting",
        "allowedByTenant",
        "blockedByTenant",
        "checkUserReportedSettings",
        "allowedByAdvancedDelivery",
        "allowedByEnhancedFiltering",
        "simulatedThreat",
        "partOfEducationCampaign",
    }
)
AUTHENTICATION_DETAILS = frozenset({"spoofBlocked", "senderFailedAuthentication", "endUserBeingSpoofed"})

_MALICIOUS_CATEGORIES = frozenset(
    {
        "phishing",
        "malware",
        "threatsFound",
        "spoof",
        "spoofedBlocked",
        "domainImpersonation",
        "userImpersonation",
        "brandImpersonation",
        "authenticationFailure",
    }
)
_SPAM_CATEGORIES = frozenset({"spam", "bulk"})
_CLEAN_CATEGORIES = frozenset({"notJunk", "noThreatsFound"})
_POLICY_CATEGORIES = frozenset(
    {
        "allowedByPolicy",
        "blockedByPolicy",
        "allowedDueToOrganizationOverride",
        "blockedDueToOrganizationOverride",
        "allowedDueToUserOverride",
        "blockedDueToUserOverride",
        "spoofedAllowed",
    }
)
_MALICIOUS_DETAILS = frozenset(
    {
        "itemFoundMalicious",
        "goodReclassifiedAsBad",
        "badReclassifiedAsBad",
        "urlFileShouldBeBlocked",
        "zeroHourAutoPurgeBlocked",
        "spoofBlocked",
        "endUserBeingSpoofed",
        "endUserBeingImpersonated",
        "domainResembledYourOrganization",
        "associatedWithBrand",
        "senderFailedAuthentication",
    }
)
_SPAM_DETAILS = frozenset(
    {"itemFoundSpam", "itemFoundBulk", "goodReclassifiedAsBulk", "badReclassifiedAsBulk"}
)
_CLEAN_DETAILS = frozenset(
    {"itemFoundClean", "goodReclassifiedAsGood", "badReclassifiedAsGood", "urlFileShouldNotBeBlocked"}
)


# --- lookups --------------------------------------------------------------------------------------------

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|[_\-\s]+")


def humanize(member: str) -> str:
    """`someNewMember` -> "Some new member"; `senderIPAddress` -> "Sender IP address"."""
    parts = [part for part in _WORD_BOUNDARY.split(str(member).strip()) if part]
    if not parts:
        return ""
    words = [part if part.isupper() and len(part) > 1 else part.lower() for part in parts]
    first = words[0]
    words[0] = first if first.isupper() and len(first) > 1 else first[:1].upper() + first[1:]
    return " ".join(words)


def words_for(enum_name: str, member: str | None) -> str:
    """The words for `member` of the Graph enum `enum_name`; a member we don't know reads as its name."""
    if not member:
        return ""
    known = ENUM_WORDS.get(enum_name, {})
    return known.get(member) or humanize(member)


def category_words(category: str | None) -> str:
    return words_for("submissionResultCategory", category)


def detail_words(detail: str | None) -> str:
    return words_for("submissionResultDetail", detail)


def mailbox_setting_words(flag: str | None) -> str:
    return words_for("userMailboxSetting", flag)


def status_words(status: str | None) -> str:
    return words_for("longRunningOperationStatus", status)


def submission_category_words(category: str | None) -> str:
    return words_for("submissionCategory", category)


def antispam_words(field_name: str, value: str) -> str:
    """Meaning of an SFV or CAT value, or "" when there is nothing to add to the raw value."""
    table = {"SFV": ANTISPAM_SFV, "CAT": ANTISPAM_CAT}.get(field_name.upper(), {})
    return table.get(value.strip().upper(), "")


# --- the verdict in one glance --------------------------------------------------------------------------


class VerdictKind:
    """How a verdict reads to a person; one of these strings."""

    SIMULATION = "simulation"
    MALICIOUS = "malicious"
    SPAM = "spam"
    CLEAN = "clean"
    POLICY = "policy"
    UNDECIDED = "undecided"
    PENDING = "pending"


def verdict_kind(verdict: Verdict | None) -> str:
    """Classify Microsoft's result: the category decides; the detail decides when the category says little."""
    if verdict is None:
        return VerdictKind.UNDECIDED
    if verdict.is_simulation or verdict.category == "phishingSimulation":
        return VerdictKind.SIMULATION
    category, detail = verdict.category, verdict.detail
    if category == "beingAnalyzed":
        return VerdictKind.PENDING
    if category in _MALICIOUS_CATEGORIES:
        return VerdictKind.MALICIOUS
    if category in _SPAM_CATEGORIES:
        return VerdictKind.SPAM
    if category in _CLEAN_CATEGORIES:
        return VerdictKind.CLEAN
    if category in _POLICY_CATEGORIES:
        return VerdictKind.POLICY
    if detail in _MALICIOUS_DETAILS:
        return VerdictKind.MALICIOUS
    if detail in _SPAM_DETAILS:
        return VerdictKind.SPAM
    if detail in _CLEAN_DETAILS:
        return VerdictKind.CLEAN
    if detail in POLICY_DETAILS:
        return VerdictKind.POLICY
    return VerdictKind.UNDECIDED


_CATEGORY_EMOJI: Mapping[str, str] = {
    VerdictKind.MALICIOUS: ":red_circle:",
    VerdictKind.SPAM: ":large_orange_circle:",
    VerdictKind.CLEAN: ":large_green_circle:",
    VerdictKind.POLICY: ":large_blue_circle:",
    VerdictKind.UNDECIDED: ":white_circle:",
    VerdictKind.PENDING: ":hourglass_flowing_sand:",
}

_CATEGORY_HEADLINES: Mapping[str, str] = {
    "notJunk": "No threats found",
    "noThreatsFound": "No threats found",
    "spam": "Spam",
    "bulk": "Bulk mail",
    "threatsFound": "Threats found",
    "unknown": "No decision from Microsoft",
    "noResultAvailable": "No decision from Microsoft",
    "unknownFutureValue": "No decision from Microsoft",
    "beingAnalyzed": "Microsoft is analysing",
    "notSubmittedToMicrosoft": "Not submitted to Microsoft",
    "itemNotfound": "Microsoft couldn't find the message",
    "reasonLostInTransit": "Verdict reason lost in transit",
    "allowedByPolicy": "Allowed by a policy: check the override",
    "allowedDueToOrganizationOverride": "Allowed by an organisation override",
    "allowedDueToUserOverride": "Allowed by the recipient's own settings",
    "blockedByPolicy": "Blocked by a policy",
    "blockedDueToOrganizationOverride": "Blocked by an organisation override",
    "blockedDueToUserOverride": "Blocked by the recipient's own settings",
}

_KIND_HEADLINES: Mapping[str, str] = {
    VerdictKind.MALICIOUS: "Threats found",
    VerdictKind.SPAM: "Spam",
    VerdictKind.CLEAN: "No threats found",
    VerdictKind.POLICY: "Handled by a policy or override",
    VerdictKind.UNDECIDED: "No decision from Microsoft",
    VerdictKind.PENDING: "Microsoft is analysing",
}


def verdict_headline(verdict: Verdict | None, status: CaseStatus) -> tuple[str, str]:
    """(emoji shortcode, headline) for a case: what the card's header and the reporter's outcome lead with."""
    if status == CaseStatus.SUBMITTING:
        return ":outbox_tray:", "Sending to Microsoft"
    if status == CaseStatus.CHECKING:
        return ":hourglass_flowing_sand:", "Microsoft is analysing"
    if status == CaseStatus.FAILED:
        return ":x:", "Submission failed"
    if status == CaseStatus.DISMISSED:
        return ":heavy_minus_sign:", "Dismissed by Security"
    if status == CaseStatus.GAVE_UP:
        return ":grey_question:", "No verdict from Microsoft in time"
    kind = verdict_kind(verdict)
    if kind == VerdictKind.SIMULATION:
        return ":mortar_board:", "Phishing simulation (not a real attack)"
    category = verdict.category if verdict else None
    if category is not None and category in _CATEGORY_HEADLINES:
        headline = _CATEGORY_HEADLINES[category]
    elif category is not None and category in SUBMISSION_RESULT_CATEGORY:
        headline = SUBMISSION_RESULT_CATEGORY[category]
    elif category and kind == VerdictKind.UNDECIDED:
        headline = humanize(category)  # a category Microsoft added after this was written
    else:
        headline = _KIND_HEADLINES[kind]
    return _CATEGORY_EMOJI[kind], headline

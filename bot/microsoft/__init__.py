"""The Microsoft side: the one Graph client, advanced hunting, mailboxes, Graph's enums in words."""

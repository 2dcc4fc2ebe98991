"""Reported email: bytes (.eml, .msg, a forward) in, one ReportedMessage out."""

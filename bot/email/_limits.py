"""How far the parser goes on each axis (bytes, lines, MIME parts, nesting, HTML, URLs, header lengths), and
the two accumulators a report's reading shares: its flags and its work budget.

Every bound on the work attacker bytes can cause is here, so what the parser will and will not read is one
page to review.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_DEPTH = 3

MAX_PARTS = 1_000
MAX_MULTIPART_NESTING = 40
MAX_ATTACHMENTS = 200
MAX_URLS = 500
MAX_URL_CHARS = 2_048
MAX_FLAGS = 40
MAX_DEFECT_FLAGS = 6
MAX_HEADER_CHARS = 64 * 1024  # any one header value, before decoding
MAX_SINGLE_ADDRESS_CHARS = 4 * 1024  # From, Sender, Reply-To: getaddresses is pure Python, ~5 us a character
MAX_ADDRESS_LIST_CHARS = 32 * 1024  # To, Cc
MAX_ADDRESSES = 500
MAX_SUBJECT_CHARS = 2_000
MAX_MESSAGE_ID_CHARS = 998
MAX_FILENAME_CHARS = 255
MAX_AUTH_HEADERS = 20
MAX_AUTH_RESULTS = 60
MAX_AUTH_TEXT_CHARS = 500
MAX_AUTH_HEADER_CHARS = 8 * 1024
MAX_ANTISPAM_VALUE_CHARS = 256
MAX_PARAM_HEADER_CHARS = 4 * 1024  # Content-Type / Content-Disposition, see _mime.SafeMessage
MAX_TEXT_SCAN_BYTES = 4 * 1024 * 1024  # per text part, searched with one regex
MAX_HTML_PARSE_CHARS = 256 * 1024  # per HTML part, through HTMLParser (pure Python: up to ~2 s a MB)
MAX_HTML_PARSE_TOTAL = 512 * 1024  # per report, all parts and wrapped messages together
# The stdlib feed parser checks every line against every open multipart boundary, so its cost grows as
# lines x nesting. A real 25 MB message is ~350k lines at nesting 2-3; beyond this budget we read headers only.
MAX_PARSE_WORK = 3_000_000
MAX_HEADER_BLOCK_FALLBACK = 256 * 1024
MAX_HEADERS = 2_000  # header fields read from one message; real mail has tens to a few hundred
SNIFF_BYTES = 8 * 1024  # read to tell a file's type, or whether bytes are an email
BER_MAX_DEPTH = 24  # S/MIME: nesting of one PKCS #7 blob
BER_MAX_ELEMENTS = 100_000


class Flags:
    """What could not be read, in words, each once, in the order found; at most MAX_FLAGS of them."""

    def __init__(self) -> None:
        self._items: dict[str, None] = {}

    def add(self, text: str) -> None:
        if len(self._items) < MAX_FLAGS:
            self._items.setdefault(text, None)

    def values(self) -> tuple[str, ...]:
        return tuple(self._items)


@dataclass
class Budget:
    """Work shared by a report and every message wrapped inside it."""

    parts: int = MAX_PARTS
    html_chars: int = MAX_HTML_PARSE_TOTAL

"""Slack messages and modals as a person would see them, drawn as terminal text (for `phishbot demo`).

Pure functions, no I/O. Without ``color`` the output is plain text: mrkdwn markers stay as written
(``*bold*`` reads fine), links read ``label (url)``, entities are unescaped. With ``color`` the markers
become ANSI styles. Nothing here opens or follows a link; a URL is only ever printed.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
ITALIC = "\x1b[3m"
STRIKE = "\x1b[9m"
RED = "\x1b[31m"
GREEN = "\x1b[32m"
CYAN = "\x1b[36m"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TOKEN = re.compile(r"<([^<>\n]+)>")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_STYLES = (
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), BOLD),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), ITALIC),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"), STRIKE),
)
_EMOJI = {
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "large_green_circle": "🟢",
    "large_blue_circle": "🔵",
    "white_circle": "⚪",
    "black_circle": "⚫",
    "warning": "⚠️",
    "x": "❌",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "heavy_minus_sign": "➖",
    "grey_question": "❔",
    "question": "❓",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "alarm_clock": "⏰",
    "mortar_board": "🎓",
    "outbox_tray": "📤",
    "inbox_tray": "📥",
    "email": "📧",
    "envelope": "✉️",
    "link": "🔗",
    "paperclip": "📎",
    "lock": "🔒",
    "rotating_light": "🚨",
    "fishing_pole_and_fish": "🎣",
    "no_entry": "⛔",
    "no_entry_sign": "🚫",
    "wastebasket": "🗑️",
    "shield": "🛡️",
    "mag": "🔍",
    "eyes": "👀",
    "tada": "🎉",
    "information_source": "ℹ️",
    "arrows_counterclockwise": "🔄",
    "repeat": "🔁",
    "thumbsup": "👍",
    "+1": "👍",
    "bell": "🔔",
    "calendar": "📅",
    "clock1": "🕐",
}
_EMOJI_CODE = re.compile(r":([a-z0-9_+\-]+):")


# --------------------------------------------------------------------------------------------------------
# measuring and wrapping text that may carry ANSI styles
# --------------------------------------------------------------------------------------------------------


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or char in "\u200b\u200d":
        return 0
    if char == "\ufe0f":  # emoji presentation: the character before it takes two columns
        return 1
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns a string takes in a terminal (ANSI codes take none, wide characters two)."""
    return sum(_char_width(c) for c in _ANSI.sub("", text))


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _split_long(word: str, width: int) -> list[str]:
    """Cut one over-long word (a URL, a hash) into pieces that fit, keeping ANSI codes whole."""
    pieces, current, used = [], "", 0
    for part in re.split(r"(\x1b\[[0-9;]*m)", word):
        if _ANSI.fullmatch(part or "x"):
            current += part
            continue
        for char in part:
            char_width = _char_width(char)
            if used + char_width > width and used:
                pieces.append(current)
                current, used = "", 0
            current += char
            used += char_width
    if current:
        pieces.append(current)
    return pieces


def wrap(text: str, width: int) -> list[str]:
    """Word-wrap by display width; a style open at a line break is closed and reopened on the next line."""
    width = max(8, width)
    out: list[str] = []
    for paragraph in text.split("\n"):
        if not paragraph.strip():
            out.append("")
            continue
        indent = paragraph[: len(paragraph) - len(paragraph.lstrip(" "))]
        lines: list[str] = []
        current, used = indent, display_width(indent)
        for word in paragraph.split():
            word_width = display_width(word)
            if used + (1 if used > len(indent) else 0) + word_width <= width:
                if used > len(indent):
                    current += " "
                    used += 1
                current += word
                used += word_width
                continue
            if used > len(indent):
                lines.append(current)
            pieces = _split_long(word, width - len(indent)) if word_width > width - len(indent) else [word]
            for piece in pieces[:-1]:
                lines.append(indent + piece)
            current, used = indent + pieces[-1], len(indent) + display_width(pieces[-1])
        lines.append(current)
        out.extend(lines)
    return _carry_styles(out)


def _carry_styles(lines: list[str]) -> list[str]:
    carried = ""
    fixed = []
    for line in lines:
        line = carried + line
        codes = _ANSI.findall(line)
        active = ""
        for code in codes:
            active = "" if code == RESET else active + code
        fixed.append(line + RESET if active else line)
        carried = active
    return fixed


# --------------------------------------------------------------------------------------------------------
# mrkdwn
# --------------------------------------------------------------------------------------------------------


def _token(body: str, users: Mapping[str, str]) -> str:
    target, _, label = body.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        return "@" + (users.get(user_id) or label or user_id)
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!subteam^"):
        return label or "@" + target[len("!subteam^") :]
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!"):
        return "@" + target[1:]
    if label and label != target:
        return f"{label} ({target})"
    return target


def mrkdwn_to_text(
    text: str, *, color: bool = False, users: Mapping[str, str] | None = None, base: str = ""
) -> str:
    """Slack mrkdwn as terminal text. ``base`` is the style to restore after a styled span."""
    users = users or {}
    spans: list[str] = []

    def keep(rendered: str) -> str:
        spans.append(rendered)
        return f"\x00{len(spans) - 1}\x00"

    def code_span(match: re.Match[str]) -> str:
        inner = html.unescape(match.group(1))
        return keep(f"{CYAN}{inner}{RESET}{base}" if color else f"`{inner}`")

    def token(match: re.Match[str]) -> str:
        rendered = html.unescape(_token(match.group(1), users))
        return keep(f"{CYAN}{rendered}{RESET}{base}" if color and "://" in match.group(1) else rendered)

    result = text
    if color:
        result = re.sub(
            r"```\n?(.*?)\n?```",
            lambda m: keep(f"{CYAN}{html.unescape(m.group(1))}{RESET}{base}"),
            result,
            flags=re.S,
        )
    result = _CODE_SPAN.sub(code_span, result)
    result = _TOKEN.sub(token, result)
    result = _EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), result)
    if color:
        for pattern, style in _STYLES:
            result = pattern.sub(functools.partial(_styled_match, style=style, base=base), result)
    result = html.unescape(result)
    return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], result)


def _text(obj: Any, *, color: bool, users: Mapping[str, str], base: str = "") -> str:
    """A text object (plain_text or mrkdwn) or a bare string."""
    if isinstance(obj, str):
        return mrkdwn_to_text(obj, color=color, users=users, base=base)
    if not isinstance(obj, dict):
        return ""
    value = str(obj.get("text") or "")
    if obj.get("type") == "plain_text":
        return _EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), value)
    return mrkdwn_to_text(value, color=color, users=users, base=base)


def _styled(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{RESET}" if color and text else text


# --------------------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------------------


def _element(element: Any, *, color: bool, users: Mapping[str, str]) -> str:
    """One interactive element, drawn as a control."""
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "button":
        label = f"[ {_text(element.get('text'), color=False, users=users)} ]"
        style = {"primary": GREEN, "danger": RED}.get(str(element.get("style")), BOLD)
        return _styled(label, style, color)
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind == "overflow":
        return "[ ⋯ ]"
    if kind in (
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
    ):
        chosen = element.get("initial_option")
        label = _text(chosen["text"], color=False, users=users) if isinstance(chosen, dict) else ""
        label = label or _text(element.get("placeholder"), color=False, users=users) or "Select an item"
        return f"[ {label} ▾ ]"
    if kind in ("radio_buttons", "checkboxes"):
        chosen = element.get("initial_options") or [element.get("initial_option")]
        chosen_values = {o.get("value") for o in chosen if isinstance(o, dict)}
        marks = ("(•)", "( )") if kind == "radio_buttons" else ("[x]", "[ ]")
        rows = []
        for option in element.get("options") or []:
            if isinstance(option, dict):
                mark = marks[0] if option.get("value") in chosen_values else marks[1]
                rows.append(f"{mark} {_text(option.get('text'), color=False, users=users)}")
        return "\n".join(rows)
    if kind == "file_input":
        types = ", ".join(f".{t}" for t in element.get("filetypes") or [])
        return f"[ ⇪ Upload a file{f' ({types})' if types else ''} ]"
    if kind in ("plain_text_input", "url_text_input", "email_text_input", "number_input"):
        shown = element.get("initial_value") or _text(element.get("placeholder"), color=False, users=users)
        line_count = 3 if element.get("multiline") else 1
        box = f"[ {shown or ''}".ljust(30) + " ]"
        return "\n".join([box] + ["[" + " " * 30 + "]"] * (line_count - 1))
    if kind == "datepicker":
        return f"[ {element.get('initial_date') or 'Select a date'} ▾ ]"
    if kind == "timepicker":
        return f"[ {element.get('initial_time') or 'Select time'} ▾ ]"
    label = _text(element.get("text") or element.get("placeholder"), color=False, users=users)
    return f"[ {label or kind} ]"


def _controls(elements: Iterable[Any], width: int, *, color: bool, users: Mapping[str, str]) -> list[str]:
    """Controls side by side, wrapping to the next line when the row is full."""
    lines: list[str] = []
    row, used = "", 0
    for element in elements:
        drawn = _element(element, color=color, users=users)
        if "\n" in drawn:
            if row:
                lines.append(row)
                row, used = "", 0
            lines.extend(drawn.split("\n"))
            continue
        drawn_width = display_width(drawn)
        if row and used + 2 + drawn_width > width:
            lines.append(row)
            row, used = "", 0
        row += ("  " if row else "") + drawn
        used += (2 if used else 0) + drawn_width
    if row:
        lines.append(row)
    return lines


def _fields(fields: list[Any], width: int, *, color: bool, users: Mapping[str, str]) -> list[str]:
    texts = [_text(f, color=color, users=users) for f in fields]
    column = (width - 3) // 2
    if column < 20:
        return [line for t in texts for line in wrap(t, width)]
    lines: list[str] = []
    for index in range(0, len(texts), 2):
        left = wrap(texts[index], column)
        right = wrap(texts[index + 1], column) if index + 1 < len(texts) else []
        for row in range(max(len(left), len(right))):
            left_line = left[row] if row < len(left) else ""
            right_line = right[row] if row < len(right) else ""
            lines.append((_pad(left_line, column) + "   " + right_line).rstrip())
        lines.append("")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _rich_text(elements: Iterable[Any], users: Mapping[str, str]) -> str:
    """The text of a rich_text block (what people post), flattened."""
    out: list[str] = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
            text = _rich_inline(element.get("elements") or [], users)
            if kind == "rich_text_quote":
                text = "\n".join("> " + line for line in text.split("\n"))
            out.append(text)
        elif kind == "rich_text_list":
            for number, item in enumerate(element.get("elements") or [], start=1):
                bullet = f"{number}." if element.get("style") == "ordered" else "•"
                out.append(f"{bullet} {_rich_inline((item or {}).get('elements') or [], users)}")
    return "\n".join(out)


def _rich_inline(elements: Iterable[Any], users: Mapping[str, str]) -> str:
    parts = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind == "text":
            parts.append(str(element.get("text") or ""))
        elif kind == "link":
            url, label = str(element.get("url") or ""), element.get("text")
            parts.append(f"{label} ({url})" if label and label != url else url)
        elif kind == "user":
            user_id = str(element.get("user_id") or "")
            parts.append("@" + users.get(user_id, user_id))
        elif kind == "channel":
            parts.append("#" + str(element.get("channel_id") or ""))
        elif kind == "emoji":
            parts.append(_EMOJI.get(str(element.get("name")), f":{element.get('name')}:"))
        elif kind == "usergroup":
            parts.append("@" + str(element.get("usergroup_id") or ""))
        elif kind == "broadcast":
            parts.append("@" + str(element.get("range") or "here"))
    return "".join(parts)


def _block(block: Any, width: int, *, color: bool, users: Mapping[str, str]) -> list[str]:
    if not isinstance(block, dict):
        return []
    kind = block.get("type")
    if kind == "header":
        title = _text(block.get("text"), color=False, users=users).upper()
        return [_styled(line, BOLD, color) for line in wrap(title, width)]
    if kind == "divider":
        return [_styled("─" * width, DIM, color)]
    if kind == "section":
        lines: list[str] = []
        if block.get("text"):
            lines.extend(wrap(_text(block["text"], color=color, users=users), width))
        if block.get("fields"):
            if lines:
                lines.append("")
            lines.extend(_fields(block["fields"], width, color=color, users=users))
        if isinstance(block.get("accessory"), dict):
            lines.extend(_controls([block["accessory"]], width, color=color, users=users))
        return lines
    if kind == "context":
        parts = []
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("type") == "image":
                parts.append(f"[{element.get('alt_text', 'image')}]")
            else:
                parts.append(_text(element, color=color, users=users, base=DIM if color else ""))
        return [_styled(line, DIM, color) for line in wrap("  ".join(p for p in parts if p), width)]
    if kind == "actions":
        return _controls(block.get("elements") or [], width, color=color, users=users)
    if kind == "input":
        label = _text(block.get("label"), color=False, users=users)
        if block.get("optional"):
            label += " (optional)"
        lines = [_styled(label, BOLD, color)]
        lines.extend(_controls([block.get("element")], width, color=color, users=users))
        if block.get("hint"):
            lines.extend(
                _styled(line, DIM, color)
                for line in wrap(_text(block["hint"], color=False, users=users), width)
            )
        return lines
    if kind == "image":
        title = _text(block.get("title"), color=False, users=users)
        return [f"[image: {title or block.get('alt_text', '')}]"]
    if kind == "rich_text":
        return wrap(_rich_text(block.get("elements") or [], users), width)
    if kind == "markdown":
        return wrap(mrkdwn_to_text(str(block.get("text") or ""), color=color, users=users), width)
    if kind == "file":
        return [f"[file {block.get('file_id', '')}]"]
    if kind == "video":
        return [f"[video: {_text(block.get('title'), color=False, users=users)}]"]
    return [_styled(f"[{kind} block]", DIM, color)]


def render_blocks(
    blocks: Iterable[Any] | None,
    text: str = "",
    *,
    width: int = 88,
    color: bool = False,
    users: Mapping[str, str] | None = None,
) -> str:
    """Blocks as a person sees them; with no blocks, the message text (which Slack then shows)."""
    users = users or {}
    width = max(24, width)
    block_list = list(blocks or [])
    if not block_list:
        return "\n".join(wrap(mrkdwn_to_text(text or "", color=color, users=users), width))
    out: list[str] = []
    previous = None
    for block in block_list:
        drawn = _block(block, width, color=color, users=users)
        if not drawn:
            continue
        kind = block.get("type") if isinstance(block, dict) else None
        # Slack leaves air between blocks, except under a header and above a context line.
        if (
            previous is not None
            and previous not in ("header", "divider")
            and kind not in ("context", "divider")
        ):
            out.append("")
        out.extend(drawn)
        previous = kind
    return "\n".join(line.rstrip() if not color else line for line in out)


def _field(message: Any, name: str, default: Any = None) -> Any:
    if isinstance(message, Mapping):
        return message.get(name, default)
    return getattr(message, name, default)


def render_message(
    msg: Any,
    *,
    width: int = 88,
    color: bool = False,
    users: Mapping[str, str] | None = None,
    bot_name: str = "phishbot",
    bot_user_id: str = "U0PHISHBOT",
) -> str:
    """A message (a PostedMessage, a Slack message dict, or an emulator ephemeral record) with a byline."""
    users = users or {}
    author = str(_field(msg, "user") or "")
    is_ephemeral = isinstance(msg, Mapping) and ("source" in msg or bool(msg.get("is_ephemeral")))
    if is_ephemeral or not author or author == bot_user_id:
        byline = [_styled(bot_name, BOLD, color), "APP"]
    elif _field(msg, "bot_id") and _field(msg, "username"):
        byline = [_styled(str(_field(msg, "username")), BOLD, color), "APP"]
    else:
        byline = [_styled(users.get(author, author), BOLD, color)]
    if is_ephemeral:
        byline.append("· Only visible to you")
    updates = _field(msg, "updates") or 0
    if updates:
        byline.append(f"· edited ×{updates}" if updates > 1 else "· edited")
    thread_ts = _field(msg, "thread_ts")
    if thread_ts and thread_ts != _field(msg, "ts"):
        byline.append("· in thread")
    lines = [" ".join(byline)]
    blocks = _field(msg, "blocks") or []
    body = render_blocks(blocks, str(_field(msg, "text") or ""), width=width, color=color, users=users)
    if body:
        lines.append(body)
    for file in _field(msg, "files") or []:
        if isinstance(file, Mapping):
            size = file.get("size")
            shown = f"📎 {file.get('name', 'file')}"
            lines.append(shown + (f" ({size:,} bytes)" if isinstance(size, int) else ""))
    return "\n".join(lines)


def render_view(
    view: Mapping[str, Any], *, width: int = 88, color: bool = False, users: Mapping[str, str] | None = None
) -> str:
    """A modal: title bar, blocks, and the Close/Submit buttons."""
    users = users or {}
    width = max(24, width)
    title = _text(view.get("title"), color=False, users=users)
    inner = width - 4
    top = "╭" + "─" * (width - 2) + "╮"
    bottom = "╰" + "─" * (width - 2) + "╯"
    lines = [top, "│ " + _pad(_styled(title, BOLD, color), inner) + " │", "├" + "─" * (width - 2) + "┤"]
    body = render_blocks(view.get("blocks") or [], width=inner, color=color, users=users)
    for line in body.split("\n") if body else []:
        lines.append("│ " + _pad(line, inner) + " │")
    buttons = []
    if view.get("close"):
        buttons.append(f"[ {_text(view['close'], color=False, users=users)} ]")
    if view.get("submit"):
        buttons.append(_styled(f"[ {_text(view['submit'], color=False, users=users)} ]", GREEN, color))
    if buttons:
        row = "  ".join(buttons)
        lines.append("│ " + _pad("", inner) + " │")
        lines.append("│ " + " " * max(0, inner - display_width(row)) + row + " │")
    lines.append(bottom)
    return "\n".join(lines)


def _styled_match(match: re.Match[str], *, style: str, base: str) -> str:
    return f"{style}{match.group(1)}{RESET}{base}"

"""Split long answers into Discord-sized messages (2000 characters each) at natural boundaries.

Discord rejects a message over 2000 characters. Cutting mid-word reads badly, so each piece ends at the
last sentence end that fits, else the last whitespace, and only a single unbroken run longer than the limit
is cut hard. A code block cut in two is closed at the end of one piece and reopened in the next.
"""

from __future__ import annotations

import re

DISCORD_MESSAGE_LIMIT = 2000
# A sentence ends with . ! ? (optionally followed by closing quotes/brackets) and then whitespace.
_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*\s+|\n+")
_WHITESPACE = re.compile(r"\s+")


_FENCE = re.compile(r"^[ \t]*```[^\n`]*", re.MULTILINE)  # a code block's opening or closing line
_CLOSE = "\n```"


def _open_fence(piece: str) -> str:
    """The opening line of a code block ``piece`` leaves open ("```py"), or "" when every block closes: the
    piece is closed and the next one reopens it, so the code stays code on both sides of the cut."""
    opening = ""
    for match in _FENCE.finditer(piece):
        opening = "" if opening else match[0].strip()
    return opening


def _last_boundary(window: str, pattern: re.Pattern[str]) -> int:
    """Index just after the last match of ``pattern`` in ``window`` (0 when none)."""
    end = 0
    for match in pattern.finditer(window):
        end = match.end()
    return end


def split_message(text: str, limit: int = DISCORD_MESSAGE_LIMIT, max_pieces: int | None = None) -> list[str]:
    """Pieces of ``text``, each at most ``limit`` characters, that join back to the text modulo whitespace;
    with ``max_pieces``, at most that many, the last one cut with an ellipsis when there was more."""
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    pieces: list[str] = []
    fence = ""  # the opening line of a code block the previous piece left open ("```py"), reopened here
    while len(text) + (len(fence) + 1 if fence else 0) > limit:
        room = limit
        if fence or "```" in text[: limit + 1]:  # room to reopen the block, and to close it if still open
            room = limit - (len(fence) + 1 if fence else 0) - len(_CLOSE)
        if room < limit // 2:  # a limit too small for fences: cut as plain text
            room, fence = limit, ""
        # Look one character past the limit: a boundary right at the limit is still a clean cut.
        window = text[: room + 1]
        cut = _last_boundary(window, _SENTENCE_END)
        if cut < room // 4:
            # A sentence boundary this early would leave tiny pieces; prefer the last space.
            cut = max(cut, _last_boundary(window, _WHITESPACE))
        if cut == 0:
            cut = room  # one "word" longer than a message: nothing better than a hard cut
        in_code = room < limit and bool(_open_fence(f"{fence}\n{text[:cut]}" if fence else text[:cut]))
        if in_code:  # inside code, a cut only between lines (a sentence end or a space breaks a line)
            line = text.rfind("\n", 0, cut) + 1
            cut = line if line > 0 else cut
            opening = _FENCE.match(text, text.rfind("\n", 0, cut - 1) + 1) if cut > 0 else None
            if opening is not None and opening.end() == cut - 1 and opening.start() > 0:
                cut = opening.start()  # nothing of the block yet: it starts in the next piece
        piece = text[:cut].rstrip()
        if len(piece) > room:
            piece, cut = text[:room], room
        if fence:
            piece = f"{fence}\n{piece}"
        fence = _open_fence(piece) if room < limit else ""  # room was kept for the closing fence
        pieces.append(piece + _CLOSE if fence else piece)
        text = text[cut:].lstrip("\n") if fence else text[cut:].lstrip()  # code keeps its indentation
    if text:
        pieces.append(f"{fence}\n{text}" if fence else text)
    if max_pieces is not None and len(pieces) > max_pieces:
        pieces = pieces[:max_pieces]
        last = pieces[-1][: limit - 1].rstrip()
        if _open_fence(last):  # the cut took the block's closing fence: close it after the ellipsis
            last = pieces[-1][: limit - 1 - len(_CLOSE)].rstrip() + "…" + _CLOSE
            pieces[-1] = last if not _open_fence(last) else last[: -len(_CLOSE)]
        else:
            pieces[-1] = last + "…"
    return pieces

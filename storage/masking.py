"""Privacy masking: secrets people paste by mistake (``mask_secrets``: a Discord token, an API key; masked
wherever the store keeps or shows someone's words), and for exported datasets also Discord mentions and
bare Discord ids, e-mail addresses and phone numbers (``mask_pii``).

Placeholders keep the sentence readable for training ("ask @user or write to [email]").
"""

from __future__ import annotations

import re

from training.secret_shapes import SECRET, mask_secrets

__all__ = ["SECRET", "mask_pii", "mask_secrets"]

USER = "@user"
ROLE = "@role"
CHANNEL = "#channel"
EMAIL = "[email]"
PHONE = "[phone]"
SNOWFLAKE = "[id]"
# Discord's wire syntax for mentions: <@123>, <@!123> (nickname), <@&123> (role), <#123> (channel).
_MENTION = re.compile(r"<(@!?|@&|#)\d{5,25}>")
_MENTION_PLACEHOLDER = {"@": USER, "@!": USER, "@&": ROLE, "#": CHANNEL}
# A bare Discord id (a snowflake: 17 to 20 digits) pasted into a message ("why was 123456789012345678
# muted", a message link's guild/channel/message) names someone as surely as a mention; whose, a mention's
# syntax says and a bare number does not, so it is "[id]". No year, score or count runs to 17 digits, and
# phone numbers stop at 15; a longer digit run or the decimals of a number are left alone.
_SNOWFLAKE = re.compile(r"(?<![\w.,])\d{17,20}(?![\w]|[.,]\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# A run of digits with the separators phone numbers are written with: "+44 20 7946 0958", "(555) 123-4567".
_PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,}\d(?!\w)")
# Dates and times are digit runs too; they are not personal data.
_DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{1,2}:\d{2}")
# E.164: at most 15 digits; fewer than 7 is a score, a year or an amount, not a phone number.
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 7, 15
BARE_PHONE_DIGITS = 10


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS or _DATE_LIKE.fullmatch(text.strip()):
        return text
    # A bare number ("attendance 1000000") needs a '+' or a full national length to count as a phone.
    if text.strip().isdigit() and digits < BARE_PHONE_DIGITS:
        return text
    # "1990 - 2000" style ranges: two short numbers around a spaced dash are not a phone number.
    if re.fullmatch(r"\d{1,4}\s+-\s+\d{1,4}", text.strip()):
        return text
    trailing = text[len(text.rstrip()) :]
    return PHONE + trailing


def mask_pii(text: str) -> str:
    """``text`` with secrets (``mask_secrets``), mentions, bare Discord ids, e-mail addresses and phone
    numbers replaced by placeholders."""
    text = mask_secrets(text)
    # The cheap `in` tests skip most regex passes: exports mask every text of every row.
    if "<" in text:
        text = _MENTION.sub(lambda m: _MENTION_PLACEHOLDER[m.group(1)], text)
    text = _SNOWFLAKE.sub(SNOWFLAKE, text)
    if "@" in text:
        text = _EMAIL.sub(EMAIL, text)
    return _PHONE_CANDIDATE.sub(_phone, text)

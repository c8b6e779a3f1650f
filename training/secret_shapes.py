"""What a secret looks like in chat text: a Discord token or webhook, an API key, a password given to its name
(``mask_secrets``, ``holds_secret``). The one recognizer of secrets: the store masks them in what it keeps
(``storage.masking``) and dataset cleaning drops the pairs that hold one (``training.data.filters``), so a
key is neither logged nor trained on nor served.

Standard library only: ``storage`` imports this module and nothing else of ``training`` (docs/design.md).
"""

from __future__ import annotations

import re
import unicodedata

SECRET = "[secret]"
MAX_URL = 2048  # how far back a URL holding a key-shaped run may start (browsers' practical limit)

# Secrets with a shape of their own, so that no ordinary word or number has it: what a member pastes with
# "my bot won't start, token is …". Each stands alone (no base64url character right before it).
_SECRET_SHAPES = (
    # A Discord bot token: the bot's id in base64 (23+ characters; digits' base64 has no - or _, so a long
    # dotted file name "…_highlights.720p60.argentina_vs_france.mp4" is none), a timestamp (6), an HMAC (27
    # or 38). Old user tokens with 2FA.
    r"[A-Za-z0-9]{23,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{27,}",
    r"mfa\.[A-Za-z0-9_-]{80,}",
    # A Discord webhook: whoever has the URL posts as it.
    r"(?i:(?:https?://)?(?:[a-z]+\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/)\d+/[A-Za-z0-9_-]{30,}",
    r"(?i:(?:https?://)?hooks\.slack\.com/services/)[A-Z0-9]+/[A-Z0-9]+/[A-Za-z0-9]{20,}",  # a Slack webhook
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",  # a JWT: {"… header and payload, signature
    r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}",  # GitHub tokens
    r"glpat-[A-Za-z0-9_-]{20,}",  # GitLab
    r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
    r"(?P<sk>sk-[A-Za-z0-9_-]{20,})",  # OpenAI (sk-…, sk-proj-…), Anthropic (sk-ant-…): see _random
    r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])",  # an AWS access key id
    r"AIza[A-Za-z0-9_-]{35}",  # Google API key
    # Slack: its digits come first (not "xoxo-see-you-at-the-match")
    r"xox[abposr]-\d+-[A-Za-z0-9-]{10,}|xapp-\d+-[A-Za-z0-9-]{10,}",
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"npm_[A-Za-z0-9]{36}",
    r"\d{8,10}:AA[A-Za-z0-9_-]{33}",  # a Telegram bot token
    r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----(?:.*?-----END (?:[A-Z]+ )*PRIVATE KEY-----|.*)",
)
_SECRETS = re.compile(r"(?<![A-Za-z0-9_-])(?:" + "|".join(_SECRET_SHAPES) + ")", re.DOTALL)
# An AWS secret access key (40 base64 characters) has no prefix: only a random mix of digits, capitals and
# small letters tells it from a word, a git hash (hexadecimal, one case), a hashtag or a CamelCase run of
# names (``_base64_key``). Not a domain's or a path's continuation ("reddit.com/r/soccer/…").
_AWS_SECRET = re.compile(r"(?<![\w/+=.#@-])[A-Za-z0-9/+]{40}(?![\w/+=-]|\.\w)")
# A value given to a secret's name, as in a pasted .env, JSON or code: "AWS_SECRET_ACCESS_KEY=…",
# "password: …", '"api_key": "…"', "clientSecret", "PGPASSWORD", "DB_PASS=…" (a bare "pass" or "back-pass" is
# football's); and "Bearer …". Masked when it has letters and digits, as a key or a password does, and
# is no hyphenated phrase unless random ("token: expired", "secret: Barcelona's press", "secret: 4-3-3",
# "secret: 2nd-half pressing" and "pass: Xavi" stay). It runs to the end of the word, "&" and "(" included
# ("pwd=Tr0ub4dor&3"), but a URL's next parameter ("&team=9").
_ASSIGNED = re.compile(
    r"(?i)(?<![\w-])((?:[a-z0-9_-]{0,40}?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key"
    r"|access[_-]?key|secret[_-]?key|private[_-]?key)|[a-z0-9_-]{0,40}?_pass)[\"']?\s*[=:]\s*[\"']?"
    r"|bearer\s+)"
    r"((?:[^\s\"'<>\[\]{},;&]|&(?!\w+=))+)"
)
# Characters that show nothing (control characters but line breaks and tabs, zero-width, direction marks,
# joiners, variation selectors, fillers, tags): pasted inside a secret, they hide it from the shapes above.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
# What Discord shows as nothing around what it formats (Markdown escapes and emphasis, spoilers, code), and
# spaces around a dot: a reader copies an escaped, bold or spaced-out token as one.
_MARKUP = re.compile(r"[\\*~|`]+")
# Underline and italics: underscores at a word's edge ("__A__"), not a token's or key's own ("ghp_…").
_UNDERLINE = re.compile(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])")
_SPACED_DOT = re.compile(r"[ \t]\.|\.[ \t]")
_DOT_SPACES = re.compile(r"[ \t]*\.[ \t]*")


def unmarked(text: str, underlined: bool = False) -> str:
    """``text`` as Discord shows it to a reader who copies a secret out of it: without Markdown escapes,
    emphasis, spoilers and code marks, and without spaces around dots (``A\\.B``, ``**A**.**B**``, ``A . B``
    are all ``A.B`` to them); "" when there is nothing to take away (no second look needed).
    ``underlined``: without the underscores at words' edges too (``__A__.__B__``)."""
    if underlined:
        return "" if "_" not in text else unmarked(_UNDERLINE.sub("", text)) or _UNDERLINE.sub("", text)
    if not _MARKUP.search(text) and not _SPACED_DOT.search(text):
        return ""
    return _DOT_SPACES.sub(".", _MARKUP.sub("", text))


# A key wrapped across lines, or a question read onto one line: two long runs of a key's characters with
# one space or line break between them are read joined too.
WRAPPED = re.compile(r"(?<=[A-Za-z0-9_.-]{10})\s(?=[A-Za-z0-9_.-]{10})")


def shown_forms(text: str) -> list[str]:
    """The forms of ``text`` a reader may copy a secret out of, beside ``text`` itself: without Markdown
    (``unmarked``), with compatibility characters folded ("．" is ".") and wrapped lines joined."""
    folded = unicodedata.normalize("NFKC", text) if not text.isascii() else text
    forms = (unmarked(text), unmarked(text, underlined=True), folded, WRAPPED.sub("", folded))
    return [s for s in dict.fromkeys(forms) if s and s != text]


# A URL's password (scheme://user:password@host): the rest of the URL says where, and stays.
_URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]{0,30}://[^\s:/@]*:)[^\s@/]+@", re.IGNORECASE)


def _random(key: str) -> bool:
    """Whether ``key`` mixes digits, capitals and small letters, as a random key does (48 random characters
    lack one of them once in thousands); "sk-learn-for-beginners-2024" does not."""
    return any(c.isdigit() for c in key) and any(c.isupper() for c in key) and any(c.islower() for c in key)


def _one_run(key: str) -> bool:
    """Whether ``key`` holds a run of 20 letters and digits, both, with no hyphen: "sk-proj-abc123def456…"
    written by hand or lower-cased is still a key; "sk-learn-for-beginners-2024" is words."""
    return any(
        re.search(r"\d", run) and re.search(r"[A-Za-z]", run) for run in re.findall(r"[A-Za-z0-9]{20,}", key)
    )


def _secret(match: re.Match[str]) -> str:
    if match.lastgroup == "sk" and not (_random(match[0]) or _one_run(match[0])):
        return match[0]
    return SECRET


def _base64_key(run: str) -> bool:
    """Whether a 40-character run looks drawn at random: digits, capitals and small letters mixed, no
    eight letters of one case in a row, and not three words of four small letters or more, which names
    run together have ("CristianoRonaldo7…", "MessiRonaldoNeymar…") and a random key rarely (about one
    in twenty misses)."""
    return (
        _random(run) and not re.search(r"[a-z]{8}|[A-Z]{8}", run) and len(re.findall(r"[a-z]{4,}", run)) < 3
    )


def _aws_secret(match: re.Match[str]) -> str:
    # Inside a URL ("https://…/1a2B3c/…") it is where the URL says, not a key.
    text, start = match.string, match.start()
    floor = max(0, start - MAX_URL)
    token_start = max(floor - 1, *(text.rfind(c, floor, start) for c in " \t\n\r\"'<(")) + 1
    return SECRET if _base64_key(match[0]) and "://" not in text[token_start:start] else match[0]


# Values that name where a secret comes from, or stand in for one, not the secret: code
# ("secrets.token_hex(32)", "cfg.bot_token2"), a path, a placeholder ("YOUR_API_KEY_1", "xxxxxxxx1").
_NOT_A_VALUE = re.compile(
    r"[A-Za-z_][\w.]*\(.*|[a-z_]\w*(?:\.[A-Za-z_]\w*)+|[/~.].*|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|.*(.)\1{3}.*"
)
# In prose, "token:" or "secret:" before a word with digits is football's ("Token: Matchday38", "Club
# secret: LaMasia1979"): after such a name only a long random value is one.
_PROSE_NAME = re.compile(r"(?i)(?:[a-z]+_)*(?:token|secret)[ \t]*:")
LONG_KEY = 16


def _assigned(match: re.Match[str]) -> str:
    quoted = match[1].rstrip().endswith(('"', "'"))
    value = match[2] if quoted else match[2].rstrip(".!?:")  # the sentence's punctuation stays
    if not quoted and value.endswith(")") and value.count(")") > value.count("("):
        value = value[:-1]  # "(password=…)"
    has_letters_and_digits = any(c.isalpha() for c in value) and any(c.isdigit() for c in value)
    # A URL's parameter ("…/tradeoffer/new/?partner=1&token=AbCdEfGh") in mixed case is one, digits or
    # not; words in CamelCase ("?season_pass=GoldMember", "?token=Cancelled") are none.
    in_url = match.start() > 0 and match.string[match.start() - 1] in "?&" and "=" in match[1]
    mixed_case = any(c.isupper() for c in value) and any(c.islower() for c in value)
    words = re.fullmatch(r"(?:[A-Z][a-z]{2,})+", value) is not None
    keyish = has_letters_and_digits or (in_url and mixed_case and not words)
    phrase = "-" in value and not _random(value)  # "2nd-half", "1st-leg-winner"
    if len(value) < 8 or value.startswith(SECRET) or "://" in value or not keyish or phrase:
        return match[0]
    if _NOT_A_VALUE.fullmatch(value):
        return match[0]
    prose = not quoted and _PROSE_NAME.fullmatch(match[1].strip())
    if prose and not (len(value) >= LONG_KEY and _random(value)):
        return match[0]
    return match[1] + SECRET + match[2][len(value) :]


def _mask(text: str) -> str:
    text = _SECRETS.sub(_secret, text)
    if len(text) >= 40:
        text = _AWS_SECRET.sub(_aws_secret, text)
    if "=" in text or ":" in text or "earer" in text:  # (B|b)earer
        text = _ASSIGNED.sub(_assigned, text)
    return _URL_PASSWORD.sub(rf"\1{SECRET}@", text) if "://" in text else text


def mask_secrets(text: str) -> str:
    """``text`` with secret-shaped strings (a Discord token or webhook, a JWT, GitHub, GitLab, OpenAI,
    Anthropic, Stripe, AWS, Google, Slack, Hugging Face, npm and Telegram keys, a private key, the password
    of a URL such as a database's ``postgresql://user:password@host``, a value of letters and digits after
    a secret's name such as ``password=…`` or ``Bearer``) replaced by ``[secret]``, also when invisible
    characters split them (those then go)."""
    if not text:
        return text
    masked = _mask(text)
    if _INVISIBLE.search(masked):
        # Read without them (from the text itself: a key's visible head may be masked already, its tail
        # left after the invisible character); they go only when they hid something.
        bare = _mask(_INVISIBLE.sub("", text))
        if bare != _INVISIBLE.sub("", masked):
            return bare
    # Hidden by Markdown, folded or wrapped: masked as Discord shows it.
    for shown in shown_forms(masked):
        if _mask(shown) != shown:
            return _mask(shown)
    return masked


def holds_secret(*texts: str) -> bool:
    """Whether any text holds a secret ``mask_secrets`` masks."""
    return any(mask_secrets(text) != text for text in texts)

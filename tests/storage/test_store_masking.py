"""``storage.masking``: personal data (e-mails, phone numbers) and pasted secrets (tokens, API keys) in what
members type; exports (tests/storage/test_store_export.py) and every listing apply them."""

from __future__ import annotations

import re

import pytest

from storage.masking import mask_pii, mask_secrets


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ping <@123456789012345678> or <@!123456789012345678>", "ping @user or @user"),
        ("in <#123456789012345678> for <@&123456789012345678>", "in #channel for @role"),
        ("write to jo.doe+fan@mail.example.org.", "write to [email]."),
        ("call +44 20 7946 0958 today", "call [phone] today"),
        ("call (555) 123-4567", "call [phone]"),
        ("final was 4-2 in 2018 with 78,011 fans", "final was 4-2 in 2018 with 78,011 fans"),
        ("kick-off 2024-06-14 at 21:00", "kick-off 2024-06-14 at 21:00"),
        ("holds 1000000 people", "holds 1000000 people"),
        ("ban 123456789012345678 pls", "ban [id] pls"),
        ("ids 81384788765712384, 12345678901234567890.", "ids [id], [id]."),  # 17 and 20 digits
        ("<@123456789012345678> (id 123456789012345678)", "@user (id [id])"),
        ("4111111111111111 and 123456789012345678901234", "4111111111111111 and 123456789012345678901234"),
        ("pi is 3.14159265358979323846", "pi is 3.14159265358979323846"),
    ],
)
def test_mask_pii(text, masked):
    assert mask_pii(text) == masked


DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde" + ".abcdefghijklmnopqrstuvwxyz1234"


@pytest.mark.parametrize(
    "text",
    [
        f"help my bot wont start, token is {DISCORD_TOKEN}",
        # a 38-character HMAC
        "token=MTIzNDU2Nzg5MDEyMzQ1Njc4OTA.Gh7-xY.a" + "bcdefghijklmnopqrstuvwxyzABCDEFGHIJKL",
        "my pat ghp_abcdefghijklmnop" + "qrstuvwxyz0123456789 leaked",
        "github_pat_11ABCDEFG01234567" + "89_abcdefghijklmnopqrstuvwxyz",
        "key sk-abcdefghijklmnopQRSTU" + "VWX0123456789abcdefghijkl ok",
        "sk-proj-Ab3dEfGhIjKlMnOpQrStUvWxYz_0123-xyz and sk-ant-api03-Ab3dEfGhIjKlMnOpQrStUvWx-y_z",
        "my key is sk-proj-abc123def456" + "ghi789jkl012mno345 why",  # lower case (typed, or a test key)
        "AKIAIOSFOD" + "NN7EXAMPLE is my aws key",
        "xoxb-123456789012-1234567890" + "123-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxp-1234567890-1234567890-123456789" + "0123-0123456789abcdef0123456789abcdef",
        "xapp-1-A0123456789-12345" + "67890123-0123456789abcdef0123456789abcdef",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwI"
        + "n0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "https://discord.com/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyz"
        + "ABCDEFGHIJKLMNOPQRSTUVWXYZ01",
        "hf_abcdefghijklmno" + "pqrstuvwxyzABCDEFGH / AIzaSyA-abcdefghijk" + "lmnopqrstuvwxyz01234",
        "telegram 1234567890:AAHdqTcvCH1v"
        + "GWJxfSeofSAs0K5PALDsaw7 / npm_abcdefghijklmnop"
        + "qrstuvwxyz0123456789",
        "-----BEGIN RSA " + "PRIVATE KEY----- MIIEpAIBAAKCAQEA -----END RSA PRIVATE KEY-----",
        "glpat-abcdefg" + "hij0123456789 rk_live_abcdef" + "ghij0123456789",
    ],
)
def test_mask_secrets_masks_every_known_shape(text):
    masked = mask_secrets(text)
    assert "[secret]" in masked
    # Nothing of the secret is left: no run of 12 key characters survives.
    assert not re.search(r"[A-Za-z0-9_-]{12,}", masked.replace("[secret]", " ")), masked
    assert mask_pii(text) == masked  # and the exports' masking starts with it


@pytest.mark.parametrize(
    "text",
    [
        "who won the world cup in 2014? training.retrieval.embedder",
        "i use sk-learn-for-beginners-in-2024 every day",  # sk- without a random key's mix
        "www.example.com/some-long-path/with-words-in-it and task-abcdefghijk" + "lmnopqrstuvwxyz",
        "AKIA is not a key, nor AKIAIOSFOD" + "NN7EXAMPLEX (21 characters)",
        "xoxo-see-you-at-the-match and xoxo-hugs-everyone",  # a Slack token's digits come first
        "wc2022_final_highlights" + ".720p60.argentina_vs_france_full_match.mp4",  # no token: an id has no _
    ],
)
def test_mask_secrets_leaves_ordinary_text(text):
    assert mask_secrets(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "my DATABASE_URL=postgresql+psycopg://qabot:" + "hunter2@db/qabot fails",
            "my DATABASE_URL=postgresql+psycopg://qabot:[secret]@db/qabot fails",
        ),
        ("redis://:" + "pw@localhost:6379", "redis://:[secret]@localhost:6379"),
        (  # a URL's token in mixed case, without a digit (shown to admins in clear in /unanswered)
            "trade me https://steamcommunity.com/tradeoffer/new/?partner=12345678&token=" + "AbCdEfGh",
            "trade me https://steamcommunity.com/tradeoffer/new/?partner=12345678&token=[secret]",
        ),
        ("https://example.com/?token=expired&team=9", "https://example.com/?token=expired&team=9"),
        ("https://x.com/t?partner=1&token=" + "xYzqWerTyuIop", "https://x.com/t?partner=1&token=[secret]"),
        (
            "https://x.com/?season_pass=GoldMember&token=Cancelled",
            "https://x.com/?season_pass=GoldMember&token=Cancelled",
        ),
        (
            "https://user@host/x and https://example.com/a:b@c",
            "https://user@host/x and https://example.com/a:b@c",
        ),
    ],
)
def test_a_urls_password_is_masked_and_the_rest_of_it_kept(text, masked):
    assert mask_secrets(text) == masked and mask_secrets(masked) == masked


AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"  # AWS's documentation example
RANDOM_40 = "Zx3p9Qm/7RtLk2+Wn8Yb" + "4Vc6Hd1Jf5Gs0Ae9Ku3T"  # the shape of a real one: no word in it


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "AWS_SECRET_ACCESS_KEY=[secret]"),
        (f"my secret key is {RANDOM_40} ok", "my secret key is [secret] ok"),
        (f'{{"endpoint":"https://s3.example.com/x","secret":"{RANDOM_40}"}}', '{"endpoint":"https://s3.example.com/x","secret":"[secret]"}'),
        (f"https://example.com/path\n{RANDOM_40}", "https://example.com/path\n[secret]"),
        ("password: Hunter" + "2024, pls help", "password: [secret], pls help"),
        ('api_key = "Ab12' + 'cd34ef56"', 'api_key = "[secret]"'),
        ('{"api_key": "Ab12cd' + '34ef56gh78", "password": "hunter' + '2024"}',
         '{"api_key": "[secret]", "password": "[secret]"}'),
        ("DB_PASS=Hunter" + "2024 and Authorization: Bearer Ab12cd34" + "ef56gh78ij90",
         "DB_PASS=[secret] and Authorization: Bearer [secret]"),
        ("https://api.example.com/v1?api_key=Ab12cd" + "34ef56gh78&team=9",
         "https://api.example.com/v1?api_key=[secret]&team=9"),
        # a git hash is one case of hexadecimal; words, names, formations, times and placeholders are
        # no random value, nor is a path, a hashtag or a URL without its scheme
        ("commit 3f786850e387550fdab836ed7e6dc881de23001b", None),
        ("token: expired, secret: pressing-high", None),
        ("the secret: Barcelona won it in midfield. Token: Liverpool.", None),
        ("secret: 3-5-2(wingbacks) or 4-3-3/4-5-1, token: 19:45-21:30", None),
        ("DISCORD_TOKEN=your-token-here", None),
        ("Our secret: 2nd-half pressing; Token: 1st-leg-winner; back-pass: 1992rule", None),
        ("MessiRonaldoNeymarMbappe" + "HaalandKane2023x", None),  # 40 characters of names
        ('{"clientSecret": "abc123' + 'def456ghi", "botToken": "abc123' + 'def456ghi"}',
         '{"clientSecret": "[secret]", "botToken": "[secret]"}'),
        ("PGPASSWORD=hunter" + "2024x pwd=Tr0ub4" + "dor&3 (password=P@ssw0" + "rd(1))",
         "PGPASSWORD=[secret] pwd=[secret] (password=[secret])"),
        ("password : 'p@ss" + "w0rd!'", "password : '[secret]'"),
        ("best pass: Xavi2Iniesta2010, through pass=Modric10", None),
        ("the secret: https://example.com/Ab1", None),
        ("see https://www.reddit.com/r/soccer/comments/1a2B3c/Messi9Goals", None),
        ("see reddit.com/r/soccer/comments/1a2B3c/Messi9Goals ok", None),
        ("x.com/FabrizioRomano/status/1790Ab/photo/1 and #WorldCup2026QualifiersArgentinaVsBrazil1", None),
        ("GOAT: CristianoRonaldo7LionelMessi10NeymarJr11", None),
        ("file src/main/java/com/Example2/MyAppService1.java", None),
        # code that makes or reads a secret, a path, placeholders (a dataset pair holding one is dropped)
        ("SECRET_KEY=secrets.token_hex(32); secret_key = os.urandom(24)", None),
        ("access_token=oauth2.get_token() then client.run(token=cfg.bot_token2)", None),
        ("pwd: /home/ronaldo7/scripts, token=YOUR_TOKEN_HERE_123, API_KEY=xxxxxxxxxxxxxxxx1", None),
        # "token:" and "secret:" in prose take a long random value only
        ("Token: Matchday38. Club secret: LaMasia1979 academy. The secret: Possession70%", None),
        ("secret: Man-City-2023, model_token: distilgpt2", None),
        ("token: aB3dE5fG7" + "hJ9kL1mN3 and password: hunter" + "2024",
         "token: [secret] and password: [secret]"),
    ],
)  # fmt: skip
def test_a_key_without_a_prefix_is_masked_by_its_randomness_or_its_name(text, masked):
    if masked is None:  # nothing secret in it
        assert mask_secrets(text) == text
    else:
        assert mask_secrets(text) == masked and mask_secrets(masked) == masked


@pytest.mark.parametrize(
    "hidden",
    [
        DISCORD_TOKEN.replace(".", "\\."),  # escaped dots: Discord shows plain dots
        "**" + DISCORD_TOKEN.replace(".", "**.**") + "**",
        "`" + DISCORD_TOKEN.replace(".", "`.`") + "`",
        "__" + DISCORD_TOKEN.replace(".", "__.__") + "__",  # underlined
        "_" + DISCORD_TOKEN.replace(".", "_._") + "_",  # italics
        DISCORD_TOKEN.replace(".", ". "),
        DISCORD_TOKEN.replace(".", " . "),
    ],
)
def test_markdown_does_not_hide_a_secret(hidden):
    """What a reader copies out of Discord is what counts: these all show the token."""
    masked = mask_secrets(f"my token is {hidden} help")
    assert "[secret]" in masked
    assert not any(part in masked for part in DISCORD_TOKEN.split("."))
    text = "He **scored** twice . Then `the team` went home. ||Spoiler|| . Done \\o/"
    assert mask_secrets(text) == text


def test_a_webhook_without_its_scheme_is_masked():
    hook = "discord.com/api/webhooks/123456789012345678/" + "a1B2c3D4e5" * 6
    assert mask_secrets(f"use {hook} for alerts") == "use [secret] for alerts"


def test_invisible_characters_do_not_hide_a_secret_and_stay_where_there_is_none():
    split = DISCORD_TOKEN[:10] + "\u200b" + DISCORD_TOKEN[10:] + "\u2060"
    assert mask_secrets(f"token {split} !") == "token [secret] !"
    family = "family \U0001f468\u200d\U0001f469\u200d\U0001f467 emoji"  # joined by zero-width joiners
    assert mask_secrets(family) == family

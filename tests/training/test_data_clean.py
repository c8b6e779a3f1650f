"""Cleaning: exact and near duplicates, conflicts, each filter, and the report."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest

from training.data import REASONS, CleanOptions, clean_records, prepare_dataset
from training.data.filters import has_link, has_repeated_chars, has_secret, is_offensive, is_too_short
from training.data.report import CleanReport

FIXTURES = Path(__file__).parent / "fixtures"
FAST = {"token_stats": False}  # the GPT-2 tokenizer is exercised by the report test only


def rec(question: str, answer: str) -> dict[str, str]:
    return {"question": question, "answer": answer}


def clean(records, **options):
    return clean_records(records, CleanOptions(**{**FAST, **options}))


@pytest.mark.parametrize(
    ("name", "kwargs", "records_out", "duplicates", "near_duplicates", "empty"),
    [
        ("seed.json", {}, 2, 1, 0, 0),
        ("alpaca.json", {}, 4, 1, 0, 0),
        ("sharegpt.json", {}, 3, 1, 0, 1),
        ("messages.jsonl", {}, 3, 1, 0, 0),
        ("prompt_completion.jsonl", {}, 2, 0, 1, 0),
        ("qa.csv", {}, 4, 1, 0, 0),
    ],
)
def test_fixture_duplicates_are_found(name, kwargs, records_out, duplicates, near_duplicates, empty):
    report = prepare_dataset([FIXTURES / name], CleanOptions(**FAST), **kwargs).report
    assert report.records_out == records_out
    assert report.removed["duplicate"] == duplicates
    assert report.removed["near_duplicate"] == near_duplicates
    assert report.removed["empty"] == empty
    assert report.records_in == report.records_out + sum(report.removed.values())


def test_duplicates_across_files_are_found():
    report = prepare_dataset([FIXTURES / "qa.csv", FIXTURES / "qa.csv"], CleanOptions(**FAST)).report
    assert (report.records_in, report.records_out) == (10, 4)
    assert [s["records"] for s in report.sources] == [5, 5]


def test_exact_duplicates_ignore_case_punctuation_and_invisible_characters():
    result = clean([rec("What is offside?", "Being ahead."), rec("what\u200b is OFFSIDE", "being ahead!")])
    assert result.records == [rec("What is offside?", "Being ahead.")]
    assert result.report.removed["duplicate"] == 1
    assert result.report.conflicts == 0  # the answers differ only in case and punctuation


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        ("first", "Germany."),
        ("last", "Germany, 1-0 against Argentina."),
        ("longest", "Germany beat Argentina 1-0 in extra time."),
    ],
)
def test_conflict_policy_picks_the_kept_answer(policy, kept):
    records = [
        rec("Who won the 2014 World Cup?", "Germany."),
        rec("Who won the 2014 World Cup?", "Germany beat Argentina 1-0 in extra time."),
        rec("who won the 2014 world cup", "Germany, 1-0 against Argentina."),
    ]
    result = clean(records, conflicts=policy)
    assert result.records == [rec(r["question"], kept) for r in records if r["answer"] == kept]
    assert result.report.conflicts == 1
    example = result.report.conflict_examples[0]
    assert example["kept"] == kept and len(example["dropped"]) == 2
    assert result.report.warnings and policy in result.report.warnings[0]


def test_unknown_conflict_policy_is_rejected():
    with pytest.raises(ValueError, match="first, last, longest"):
        clean([rec("Q?", "An answer.")], conflicts="random")


def test_near_duplicates_need_similar_questions_and_answers():
    records = [
        rec("How many players does each team have on the pitch?", "Eleven, one of them the goalkeeper."),
        rec(
            "How many players does each team have on the pitch ??", "Eleven, one of them the goalkeeper."
        ),  # exact
        rec(
            "How many players does each teams have on the pitch?", "Eleven, one of them the goalkeeper!"
        ),  # near
        rec("Who won the 2010 World Cup?", "Spain won it, beating the Netherlands."),
        rec("Who won the 2014 World Cup?", "Germany won it, beating Argentina."),  # similar question only
    ]
    result = clean(records)
    assert [r["question"] for r in result.records] == [
        records[0]["question"],
        records[3]["question"],
        records[4]["question"],
    ]
    assert (result.report.removed["duplicate"], result.report.removed["near_duplicate"]) == (1, 1)
    example = result.report.examples["near_duplicate"][0]
    assert example["similar_to"] == records[0]["question"] and example["similarity"] >= 0.9


def test_near_duplicate_threshold_flag():
    records = [
        rec("What does the referee's whistle mean?", "Play stops."),
        rec("What does a referee whistle mean?", "Play stops."),
    ]
    assert clean(records, near_dup_threshold=0.8).report.removed["near_duplicate"] == 1
    assert clean(records, near_dup_threshold=0.97).report.removed["near_duplicate"] == 0
    assert clean(records, near_dup_threshold=1.0).report.removed["near_duplicate"] == 0


def test_near_duplicates_found_among_many_records():
    # A planted copy hidden among thousands of unrelated records must still meet its original in an
    # LSH bucket, and nothing else may be taken for a duplicate.
    rng = random.Random(0)

    def words(k: int) -> str:
        return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8))) for _ in range(k))

    records = [rec(f"What is {words(6)}?", f"It is {words(8)}.") for _ in range(3000)]
    original = records[1234]
    records.append(rec(original["question"].replace("?", "s?"), original["answer"]))
    report = clean(records).report
    assert report.removed["near_duplicate"] == 1
    assert report.examples["near_duplicate"][0]["similar_to"] == original["question"]


@pytest.mark.parametrize(
    ("record", "reason", "switch"),
    [
        (rec("Who is the best striker?", "That fucking idiot."), "offensive", "offensive"),
        (rec("Where can I watch?", "Join https://example.com/stream now"), "spam_link", "spam"),
        (rec("Free tickets", "discord.gg/abc123"), "spam_link", "spam"),
        (rec("Was it a goal?", "Yesssssssss it was"), "spam_repeated", "spam"),
        (rec("Did Brazil win in 2002?", "ok"), "too_short", "short"),
        (rec("Did Brazil win in 2002?", "?"), "too_short", "short"),
    ],
)
def test_each_filter_removes_and_counts_and_can_be_switched_off(record, reason, switch):
    keep = rec("What is a corner kick?", "A kick from the corner arc.")
    on = clean([keep, record])
    assert on.records == [keep]
    assert on.report.removed[reason] == 1
    assert [{k: e[k] for k in record} for e in on.report.examples[reason]] == [record]
    off = clean([keep, record], **{switch: False})
    assert len(off.records) == 2 and off.report.removed[reason] == 0


def test_filters_leave_ordinary_football_text_alone():
    texts = [
        "Scunthorpe United play in claret and blue.",
        "Arsenal's ground holds 60,704 people.",
        "He passed the ball.",
    ]
    assert not any(is_offensive(t) or has_link(t) or has_repeated_chars(t) for t in texts)
    assert not has_repeated_chars("A crowd of 1000000 is impossible.")  # runs of digits are numbers
    assert not is_too_short("11") and not is_too_short("No.") and is_too_short("lol")


TOKEN = "M" + "x" * 23 + "." + "y" * 6 + "." + "z" * 27  # built here: no token-shaped literal in the repo


@pytest.mark.parametrize(
    "hidden",
    [
        f"It is {TOKEN}",
        f"It is {TOKEN[:10]}\u200b{TOKEN[10:]}",  # a zero-width space inside
        f"It is {TOKEN[:30]}\n{TOKEN[30:]}",  # wrapped across two lines
        "It is " + TOKEN.replace(".", "\uff0e"),  # fullwidth dots
        # Markdown that Discord shows as nothing: escaped dots, bold parts, a spoiler; spaces around dots
        "It is " + TOKEN.replace(".", "\\."),
        "It is **" + TOKEN.replace(".", "**.**") + "**",
        "It is ||" + TOKEN.replace(".", "||.||") + "||",
        "It is " + TOKEN.replace(".", " . "),
    ],
)
def test_a_secret_is_dropped_however_hidden_and_never_shown_in_the_report(hidden):
    """data check prints the report and training keeps it in the checkpoint's data_report.json."""
    keep = rec("What is a corner kick?", "A kick from the corner arc.")
    # A question is one line: a line break in it becomes a space, as between two words.
    asked = [] if "\n" in hidden else [rec(hidden, "A long enough answer.")]
    for record in [rec("What is the bot token?", hidden), *asked]:
        result = clean([keep, record], offensive=False, spam=False, short=False)
        assert result.records == [keep] and result.report.removed["secret"] == 1
        shown = json.dumps(result.report.to_dict(), ensure_ascii=False)
        assert "xxxxxxxxxx" not in shown and "zzzzzzzzzz" not in shown
    assert not has_secret("He scored twice in the final.\nThen the team went home.")
    assert not has_secret("He **scored** twice . Then `the team` went home. ||Spoiler|| . Done")


KEY_BODY = "a1B2c3D4" * 5  # built here: no key-shaped literal in the repo


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-" + KEY_BODY,  # OpenAI
        "ghp_" + KEY_BODY[:36],  # GitHub
        "AKIA" + "ABCDEFGH12345678",  # an AWS access key id
        "xoxb-" + "123456789012-" + KEY_BODY[:24],  # Slack
        "password=" + "Stad1um" + "2024x",  # a password given to its name
        "postgresql://qabot:" + "Hunter2Hunter2" + "@db.example.org/qabot",  # a URL's password
        "sk-" + KEY_BODY.replace("a", "\u200b" + "a", 1),  # split by an invisible character
        "sk-" + KEY_BODY[:20] + "\U000e0100" + KEY_BODY[20:],  # a variation selector of the supplement
        "ghp\\_" + KEY_BODY[:36],  # an escaped underscore: Discord shows "ghp_"
        "**ghp_" + KEY_BODY[:8] + "**" + KEY_BODY[8:36],
        "https://Discord.com/api/webhooks/123456789/" + KEY_BODY,
        "hooks.slack.com/services/T0001/B0001/" + KEY_BODY[:24],
    ],
)
def test_any_secret_the_store_masks_is_dropped_from_a_dataset(secret):
    """A dataset's API key or password would be trained on, indexed and served by the bot to anyone who asks:
    cleaning drops the pair (not only Discord tokens), and the report never shows the key."""
    keep = rec("What is a corner kick?", "A kick from the corner arc.")
    asked = [rec("What is our key?", f"Our key is {secret} for the bot."), rec(f"is {secret} ok?", "Yes.")]
    for record in asked:
        result = clean([keep, record], offensive=False, spam=False, short=False)
        assert result.records == [keep] and result.report.removed["secret"] == 1
        shown = json.dumps(result.report.to_dict(), ensure_ascii=False)
        assert KEY_BODY[:12] not in shown and "Hunter2" not in shown and "Stad1um" not in shown
    # The shapes are a key's, not football's.
    kept = ["Use the password reset page.", "The secret: 4-3-3 and pressing.", "sk-learn-for-beginners-2024"]
    assert not has_secret(*kept)


UNDERSCORED = "MTA1NjQ3ODkwMTIzNDU2Nzg5MA" + ".GhIjKl." + "Ab_dEfGhIjKlMnOp_rStUvWxYz0"  # "_" in its HMAC


@pytest.mark.parametrize(
    "hidden",
    [
        UNDERSCORED.replace(".", "\\."),
        "**" + UNDERSCORED.replace(".", "**.**") + "**",
        UNDERSCORED.replace(".", " . "),
        "__" + UNDERSCORED.replace(".", "__.__") + "__",  # underlined: its own "_" stays
    ],
)
def test_a_token_with_underscores_is_found_however_marked(hidden):
    assert has_secret(f"Your token {hidden} is wrong")


def test_a_key_wrapped_in_a_question_is_found_though_the_line_break_became_a_space():
    question = clean(
        [rec("My key is ghp_" + KEY_BODY[:16] + "\n" + KEY_BODY[16:36] + " why?", "Regenerate it.")]
    )
    assert question.records == [] and question.report.removed["secret"] == 1
    assert not has_secret("Weltmeisterschaftsqualifikation Nationalmannschaft Europameisterschaft 2024")


def test_no_removal_reason_shows_a_secret_in_the_report():
    """A KTO row labelled false is set aside before the secret filter: its example is masked too."""
    report = CleanReport()
    report.remove("undesirable", rec("What is the bot token?", f"It is {TOKEN}"))
    report.remove("too_short", rec("Is API_KEY=abc a secret?", "ok"))  # no token: shown as it is
    assert report.examples["undesirable"] == [rec("What is the bot token?", "It is ***")]
    assert report.examples["too_short"] == [rec("Is API_KEY=abc a secret?", "ok")]


def test_empty_records_are_counted_not_fatal():
    result = clean([rec("Q one?", "An answer."), rec("\u200b", "Orphan answer."), rec("Q two?", " ")])
    assert len(result.records) == 1 and result.report.removed["empty"] == 2


def test_report_counts_every_reason_and_token_lengths():
    records = [
        rec("What is a corner kick?", "A kick from the corner arc."),
        rec("what is a corner kick", "Same question."),
    ]
    result = clean_records(records)
    data = result.report.to_dict()
    assert set(REASONS) <= set(data["removed"]) and data["removed"]["duplicate"] == 1
    assert (data["records_in"], data["records_out"], data["conflicts"]) == (2, 1, 1)
    # "Question: What is a corner kick?\nAnswer: A kick from the corner arc." + EOS in GPT-2 BPE
    tokens = data["tokens"]
    assert tokens["max"] == tokens["p50"] == tokens["mean"] and 15 <= tokens["max"] <= 25

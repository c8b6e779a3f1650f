"""Quality benchmark: `make run`'s default model (scratch GPT-2 on examples/soccer.json, all defaults, with
the example's glossary examples/soccer_synonyms.json) answering as people ask — the trained questions as
written, rewordings in people's own words, off-topic questions, and pairs taught after training — through
the bot's real answer path (retrieval, zones, model) and, as the baseline in the same run, the model alone
answering each question as typed.

    .venv/bin/python bench/quality.py [--data examples/soccer.json] [--probes examples/soccer_rewordings.json]
        [--synonyms examples/soccer_synonyms.json|none] [--model models/current]
        [--sets probes discord_dev discord_test discord_unknown_dev discord_unknown_test]

The rewordings and off-topic questions (``--probes``) are never trained on and never used to calibrate.
The off-topic questions are asked twice: before the taught pairs join and beside them (they have a
"did you mean" cut of their own).

``--sets`` picks what is asked (default: all): ``probes`` is the above; ``discord_dev`` and
``discord_test`` are ``examples/discord_dev.json`` and ``examples/discord_test.json`` (issue 28: questions
typed as in a Discord channel — slang, abbreviations, own framing, context, typos, Portuguese, Spanish and
French, off-topic chat — each with the known question(s) a right answer matches); ``discord_unknown_dev``
and ``discord_unknown_test`` are on-topic questions in the same style that the dataset cannot answer (kind
``unknown``: "not sure" or "did you mean" is right, an answer is wrong); any other name is a path to a file
of that shape. They are asked through the same answer path, on the checkpoint as trained (no
taught pairs), and reported per set, by kind and by language: answered right (answer zone, matched question
among the expected), right or rightly offered (that, or "did you mean" offering an expected question),
wrong (answer zone, matched question not expected), not sure; off-topic: not answered; and which answers
the model wrote and which were the stored answer (``answered_by``). The test set is only ever reported.
Prints one JSON line; the Discord-style sets also print a table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {
    "recall_f1": 0.95,  # trained questions as written
    "rewording_served_f1": 0.85,  # answers actually given to rewordings
    "rewording_wrong_max": 0.05,  # answered with F1 < 0.5, as a share of the rewordings
    "off_topic_fallback": 0.95,
    "taught_f1": 0.9,  # pairs taught after training, asked in other words, no retrain
}
WRONG_F1 = 0.5
# Issue 28's targets for the Discord-style sets (reported per set; the test set is the one they are for).
DISCORD_TARGETS = {
    "english_right": 0.80,  # English answerable questions answered right
    "english_right_or_offered": 0.95,
    "english_wrong_max": 0.02,
    "other_languages_right_or_offered": 0.70,
    "other_languages_wrong_max": 0.04,
    "off_topic_not_answered": 0.97,
    # Ours, not the issue's: on-topic questions the dataset cannot answer (kind "unknown") get "not sure"
    # or "did you mean", as often as calibration's near-miss budget promises (``zones.NEAR_MISS_PASS``).
    "unknown_not_answered": 0.90,
}
DISCORD_SETS = ("discord_dev", "discord_test", "discord_unknown_dev", "discord_unknown_test")
UNKNOWN = "unknown"  # the kind of an on-topic question the dataset cannot answer (``expected`` is empty)
SETS = ("probes", *DISCORD_SETS)
# Every question is asked at once: the bench measures answers, not queueing, so no question may time out
# or be turned away as "busy" on a slow or shared machine.
PATIENT = {"timeout_s": 3600.0, "max_queue": 100_000}


async def ask_all(answerer, questions: list[str]) -> list:
    return await asyncio.gather(*(answerer.answer(q) for q in questions))


def rewording_report(answers, expected: list[str], originals: list[str], f1) -> dict:
    served = [(a, e) for a, e in zip(answers, expected, strict=True) if a.zone == "answer"]
    suggested = [(a, o) for a, o in zip(answers, originals, strict=True) if a.zone == "suggest"]
    n = len(answers)
    return {
        "n": n,
        "answered": round(len(served) / n, 4),
        "served_f1": round(mean(f1(a.text, e) for a, e in served), 4) if served else 0.0,
        "wrong": round(sum(f1(a.text, e) < WRONG_F1 for a, e in served) / n, 4),
        "suggested": round(len(suggested) / n, 4),
        "suggested_with_right": round(sum(o in a.suggestions for a, o in suggested) / n, 4),
        "fallback": round(sum(a.zone == "fallback" for a in answers) / n, 4),
        "f1_all": round(mean(f1(a.text, e) for a, e in zip(answers, expected, strict=True)), 4),
    }


def _share(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def answerable_report(rows: list[tuple[dict, object]], answer_of: dict[str, str], f1) -> dict:
    """Questions the dataset can answer: how each was served, against the known question(s) expected."""
    n = len(rows)
    right = [(q, a) for q, a in rows if a.zone == "answer" and a.matched_question in q["expected"]]
    offered = [a for q, a in rows if a.zone == "suggest" and set(q["expected"]) & set(a.suggestions)]
    suggested = sum(a.zone == "suggest" for _, a in rows)
    answered = [a for _, a in rows if a.zone == "answer"]
    return {
        "n": n,
        "answered_right": _share(len(right), n),
        "right_or_offered": _share(len(right) + len(offered), n),
        "offered_right": _share(len(offered), n),  # "did you mean" with an expected question among them
        "offered_other": _share(suggested - len(offered), n),  # "did you mean" without any
        "wrong": _share(len(answered) - len(right), n),  # answered from a question not expected
        "not_sure": _share(sum(a.zone == "fallback" for _, a in rows), n),
        # The text given for the right known question, against its stored answer (the model may stray).
        "right_text_f1": round(mean(f1(a.text, answer_of[a.matched_question]) for _, a in right), 4)
        if right
        else None,
    }


def off_topic_report(answers: list) -> dict:
    n = len(answers)
    return {
        "n": n,
        "not_answered": _share(sum(a.zone != "answer" for a in answers), n),
        "not_sure": _share(sum(a.zone == "fallback" for a in answers), n),
        "suggested": _share(sum(a.zone == "suggest" for a in answers), n),
    }


def _off_topic(q: dict) -> bool:
    return not q["expected"] and q["kind"] != UNKNOWN


def discord_report(items: list[dict], answers: list, answer_of: dict[str, str], f1) -> dict:
    """One Discord-style set: all answerable, English and other languages, off-topic, by kind and language."""
    rows = list(zip(items, answers, strict=True))
    answerable = [(q, a) for q, a in rows if q["expected"]]
    off = [a for q, a in rows if _off_topic(q)]
    answered = [a for _, a in rows if a.zone == "answer"]
    by_kind: dict = {}
    for kind in sorted({q["kind"] for q in items}):
        group = [(q, a) for q, a in rows if q["kind"] == kind]
        if kind in ("off-topic", UNKNOWN):
            by_kind[kind] = off_topic_report([a for _, a in group])
        else:
            by_kind[kind] = answerable_report([(q, a) for q, a in group if q["expected"]], answer_of, f1)
    by_lang: dict = {}
    for lang in sorted({q["lang"] for q in items}):
        group = [(q, a) for q, a in rows if q["lang"] == lang]
        by_lang[lang] = {
            "answerable": answerable_report([(q, a) for q, a in group if q["expected"]], answer_of, f1),
            "off_topic": off_topic_report([a for q, a in group if _off_topic(q)]),
            "unknown": off_topic_report([a for q, a in group if q["kind"] == UNKNOWN]),
        }
    by = {}
    for a in answered:
        by[a.answered_by or "?"] = by.get(a.answered_by or "?", 0) + 1
    report = {
        "n": len(items),
        "answerable": answerable_report(answerable, answer_of, f1),
        "english": answerable_report([(q, a) for q, a in answerable if q["lang"] == "en"], answer_of, f1),
        "other_languages": answerable_report(
            [(q, a) for q, a in answerable if q["lang"] != "en"], answer_of, f1
        ),
        "off_topic": off_topic_report(off),
        "unknown": off_topic_report([a for q, a in rows if q["kind"] == UNKNOWN]),
        # Of the answers given (answer zone): written by the model, or the pair's stored answer ("index").
        "answered_by": {k: _share(v, len(answered)) for k, v in sorted(by.items())},
        "by_kind": by_kind,
        "by_lang": by_lang,
    }
    en, other, off_r = report["english"], report["other_languages"], report["off_topic"]
    t = DISCORD_TARGETS

    def at_least(x: float | None, target: float) -> bool | None:  # None: the set has no such question
        return None if x is None else x >= target

    def at_most(x: float | None, target: float) -> bool | None:
        return None if x is None else x <= target

    report["target_met"] = {
        "english_right": at_least(en["answered_right"], t["english_right"]),
        "english_right_or_offered": at_least(en["right_or_offered"], t["english_right_or_offered"]),
        "english_wrong": at_most(en["wrong"], t["english_wrong_max"]),
        "other_languages_right_or_offered": at_least(
            other["right_or_offered"], t["other_languages_right_or_offered"]
        ),
        "other_languages_wrong": at_most(other["wrong"], t["other_languages_wrong_max"]),
        "off_topic_not_answered": at_least(off_r["not_answered"], t["off_topic_not_answered"]),
        "unknown_not_answered": at_least(report["unknown"]["not_answered"], t["unknown_not_answered"]),
    }
    return report


def print_table(name: str, report: dict) -> None:
    """The set's numbers as a table on stderr (stdout keeps the one JSON line)."""

    def pct(x: float | None) -> str:
        return "    -" if x is None else f"{100 * x:5.1f}"

    def line(label: str, r: dict) -> str:
        return (f"  {label:<24}{r['n']:>5}  {pct(r['answered_right'])}  {pct(r['right_or_offered'])}"
                f"  {pct(r['wrong'])}  {pct(r['not_sure'])}")  # fmt: skip

    def not_answered(title: str, key: str) -> list[str]:  # off-topic or unknown: all, then by language
        if not report[key]["n"]:
            return []
        rows = [(title, report[key]), *((f"lang {k}", r[key]) for k, r in report["by_lang"].items())]
        return [f"  {label:<24}{r['n']:>5}  {pct(r['not_answered']):>12}" for label, r in rows if r["n"]]

    out = [f"{name}: {report['n']} questions; answered_by {report['answered_by']}"]
    if report["answerable"]["n"]:
        out += [f"  {'answerable':<24}{'n':>5}  {'right':>5}  {'r/off':>5}  {'wrong':>5}  {'unsure':>6}",
                line("all", report["answerable"]), line("english", report["english"]),
                line("other languages", report["other_languages"])]  # fmt: skip
        out += [line(f"kind {k}", r) for k, r in report["by_kind"].items() if k not in ("off-topic", UNKNOWN)]
        out += [
            line(f"lang {k}", r["answerable"]) for k, r in report["by_lang"].items() if r["answerable"]["n"]
        ]
    out += [f"  {'':<24}{'n':>5}  {'not answered':>12}"]
    out += not_answered("off-topic", "off_topic") + not_answered("unknown (on-topic)", "unknown")
    print("\n".join(out), file=sys.stderr)


def load_set(name: str) -> list[dict]:
    """A Discord-style set by name (``examples/<name>.json``) or path: its list of questions."""
    path = Path(name) if name.endswith(".json") else ROOT / "examples" / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["questions"] if isinstance(data, dict) else data


async def measure_sets(generator, sets: dict[str, list[dict]], records: list[dict]) -> dict:
    """Each Discord-style set through the answer path, on the checkpoint as trained (no taught pairs)."""
    from bot.answering.answerer import Answerer
    from training.metrics import token_f1

    answer_of = {r["question"]: r["answer"] for r in records}
    out = {}
    for name, items in sets.items():
        async with Answerer(generator, **PATIENT) as answerer:  # each set from the same fresh start
            answers = await ask_all(answerer, [q["question"] for q in items])
        out[name] = discord_report(items, answers, answer_of, token_f1)
    return out


async def measure(
    model_dir: Path, probes: dict | None, records: list[dict], sets: dict[str, list[dict]] | None = None
) -> dict:
    from bot.answering.torch_thread import call
    from training.runtime.generate import Generator

    generator = call(Generator.load, model_dir)  # the serving precision (int8 on CPU)
    out: dict = {"retrieval_encoder": generator.manifest.get("retrieval", {}).get("encoder")}
    # The sets before the probes: the probes' closed-book baseline takes the index away.
    by_set = await measure_sets(generator, sets, records) if sets else None
    if probes is not None:
        out.update(await measure_probes(generator, model_dir, probes, records))
    if by_set is not None:
        out["sets"] = by_set
    return out


async def measure_probes(generator, model_dir: Path, probes: dict, records: list[dict]) -> dict:
    from bot.answering.answerer import Answerer
    from storage import repo
    from storage.db import dispose, open_store
    from training.metrics import token_f1

    answer_of = {r["question"]: r["answer"] for r in records}
    trained = json.loads((model_dir / "split.json").read_text(encoding="utf-8"))["train"]
    rewordings = probes["rewordings"]
    questions = [r["question"] for r in rewordings]
    expected = [answer_of[r["original"]] for r in rewordings]
    originals = [r["original"] for r in rewordings]

    out: dict = {}
    async with Answerer(generator, **PATIENT) as answerer:
        recall = await ask_all(answerer, [r["question"] for r in trained])
        out["recall_f1"] = round(
            mean(token_f1(a.text, r["answer"]) for a, r in zip(recall, trained, strict=True)), 4
        )
        out["rewordings"] = rewording_report(
            await ask_all(answerer, questions), expected, originals, token_f1
        )
        off = await ask_all(answerer, probes["off_topic"])
        out["off_topic_fallback"] = round(sum(a.zone == "fallback" for a in off) / len(off), 4)
        out["off_topic_suggested"] = round(sum(a.zone == "suggest" for a in off) / len(off), 4)

        # Taught after training, through a real store, then asked in other words: no retrain.
        with tempfile.TemporaryDirectory(prefix="qabot-quality-store-") as tmp:
            factory = open_store(f"sqlite:///{tmp}/store.db")
            with factory.begin() as session:
                for pair in probes["taught"]:
                    repo.add_taught_pair(session, pair["question"], pair["answer"], admin_id=1)
            with factory.begin() as session:
                live = repo.live_pairs(session)
            dispose(factory)
        await answerer.set_live(live)
        taught = await ask_all(answerer, [p["asked"] for p in probes["taught"]])
        out["taught_f1"] = round(
            mean(token_f1(a.text, p["answer"]) for a, p in zip(taught, probes["taught"], strict=True)), 4
        )
        out["taught_answered"] = round(sum(a.zone == "answer" for a in taught) / len(taught), 4)
        pairs = list(zip(taught, probes["taught"], strict=True))
        offered = sum(a.zone == "suggest" and p["question"] in a.suggestions for a, p in pairs)
        out["taught_suggested_with_right"] = round(offered / len(taught), 4)
        # The taught pairs have their own "did you mean" cut: off-topic questions asked again beside them.
        off = await ask_all(answerer, probes["off_topic"])
        out["off_topic_fallback_after_teaching"] = round(sum(a.zone == "fallback" for a in off) / len(off), 4)

    # Baseline, same model: no retrieval, each question answered as typed (the product before retrieval).
    generator.index = None
    async with Answerer(generator, **PATIENT) as closed_book:
        baseline = await ask_all(closed_book, questions)
        out["closed_book_rewordings"] = rewording_report(baseline, expected, originals, token_f1)
        off = await ask_all(closed_book, probes["off_topic"])
        out["closed_book_off_topic_fallback"] = round(sum(a.zone == "fallback" for a in off) / len(off), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "examples" / "soccer.json", help="dataset file")
    parser.add_argument("--probes", type=Path, default=ROOT / "examples" / "soccer_rewordings.json",
                        help="rewordings, off-topic and taught pairs, never trained on")  # fmt: skip
    parser.add_argument("--synonyms", type=Path, default=ROOT / "examples" / "soccer_synonyms.json",
                        help="admins' synonyms to train with, as make run ('none': without)")  # fmt: skip
    parser.add_argument("--model", type=Path, help="measure this checkpoint instead of training one")
    parser.add_argument("--sets", nargs="+", default=list(SETS), metavar="SET",
                        help=f"what to ask: {', '.join(SETS)} (default: all), or a path to a set "
                        "shaped like examples/discord_dev.json")  # fmt: skip
    args = parser.parse_args()

    import torch
    import transformers

    from training.config import TrainConfig
    from training.train import train

    transformers.logging.set_verbosity_error()
    records = json.loads(args.data.read_text(encoding="utf-8"))
    probes = json.loads(args.probes.read_text(encoding="utf-8")) if "probes" in args.sets else None
    sets = {Path(name).stem: load_set(name) for name in args.sets if name != "probes"}
    with tempfile.TemporaryDirectory(prefix="qabot-quality-") as tmp:
        seconds = None
        model_dir = args.model
        if model_dir is None:
            config = TrainConfig(
                data=[args.data],
                base="scratch",
                out=Path(tmp) / "run",
                progress="json",
                no_current=True,
                synonyms=None if str(args.synonyms) == "none" else args.synonyms,
            )
            start = time.perf_counter()
            model_dir = train(config, emit=lambda event: None)
            seconds = round(time.perf_counter() - start, 1)
        manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
        result = asyncio.run(measure(model_dir, probes, records, sets))
    for name, report in result.get("sets", {}).items():
        print_table(name, report)
    summary = {
        **result,
        "train_call_seconds": seconds,  # all of train(): data, tokenizer, training, eval, index, checkpoint
        "train_seconds": manifest["metrics"]["train_seconds"],
        "retrieval_seconds": manifest.get("retrieval", {}).get("seconds"),
        "zones": manifest.get("zones"),
        "calibration": manifest.get("retrieval", {}).get("calibration"),
        "threads": torch.get_num_threads(),
    }
    if probes is not None:
        rew = result["rewordings"]
        # The off-topic questions count both times: before the taught pairs join and beside them.
        off_topic = min(result["off_topic_fallback"], result["off_topic_fallback_after_teaching"])
        summary["target_met"] = {
            "recall_f1": result["recall_f1"] >= TARGETS["recall_f1"],
            "rewording_served_f1": rew["served_f1"] >= TARGETS["rewording_served_f1"],
            "rewording_wrong": rew["wrong"] <= TARGETS["rewording_wrong_max"],
            "off_topic_fallback": off_topic >= TARGETS["off_topic_fallback"],
            "taught_f1": result["taught_f1"] >= TARGETS["taught_f1"],
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

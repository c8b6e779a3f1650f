"""Follow-up benchmark (issue 29): questions that only make sense after the previous one ("and 2018?"),
asked in one conversation through the bot's real answer path (``Answerer.answer(..., context=...)``), and,
as the baseline in the same run, the same follow-ups asked alone; stand-alone questions asked after an
unrelated one must be answered exactly as when asked alone.

    .venv/bin/python bench/followups.py --model models/current [--pairs examples/followups.json]
        [--standalone-sets discord_dev discord_test]

Each row of ``--pairs`` is a conversation's previous question and the next message (``kind`` followup or
standalone, ``part`` dev or test: tune on dev, only report test; ``examples/followups_confirm.json``, part
confirm, was written after the constants were chosen and is only reported). Per part: follow-ups answered
right (answer zone, matched question among the expected), right or rightly offered ("did you mean" offering an
expected one), wrong (answered from another question), English only too; stand-alone questions unchanged
(same zone and matched question as alone); and, many more of them, each question of the Discord-style
sets (``--standalone-sets``, bench/quality.py's) asked after another of its set about something else.
Prints one JSON line (and a table to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.quality import DISCORD_SETS, PATIENT, load_set  # noqa: E402  (bench/ scripts run from the repository root)

TARGETS = {"right": 0.75, "right_or_offered": 0.90, "wrong_max": 0.05, "standalone_unchanged": 1.0}


def _share(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def followup_report(rows: list[tuple[dict, object]]) -> dict:
    """How the follow-ups were served, against the known question(s) expected."""
    n = len(rows)
    right = sum(a.zone == "answer" and a.matched_question in q["expected"] for q, a in rows)
    offered = sum(a.zone == "suggest" and bool(set(q["expected"]) & set(a.suggestions)) for q, a in rows)
    answered = sum(a.zone == "answer" for _, a in rows)
    return {
        "n": n,
        "right": _share(right, n),
        "right_or_offered": _share(right + offered, n),
        "wrong": _share(answered - right, n),
        "not_sure": _share(sum(a.zone == "fallback" for _, a in rows), n),
        "read_with_context": _share(sum(a.followup_of is not None for _, a in rows), n),
    }


def unrelated_previous(items: list[dict], seed: int = 0) -> list[str]:
    """For each question of a set, another question of it that expects none of its known questions."""
    rng = random.Random(seed)
    out = []
    for item in items:
        others = [o for o in items if o is not item and not set(o["expected"]) & set(item["expected"])]
        out.append(rng.choice(others)["question"])
    return out


async def in_conversation(answerer, previous: list[str], questions: list[str]) -> list:
    """Each question asked after its previous one, one conversation per pair."""
    from bot.answering.followups import ConversationMemory

    memory = ConversationMemory()
    for i, answer in enumerate(await asyncio.gather(*(answerer.answer(p) for p in previous))):
        memory.record(i, answer)
    return await asyncio.gather(
        *(answerer.answer(q, context=memory.previous(i)) for i, q in enumerate(questions))
    )


def standalone_report(items: list[dict], after: list, alone: list) -> dict:
    """Questions asked after an unrelated one: unchanged, or changed to a right or a wrong answer."""
    changed = [(q, a) for q, a, b in zip(items, after, alone, strict=True) if not same(a, b)]
    right = sum(a.zone == "answer" and a.matched_question in q["expected"] for q, a in changed)
    wrong = sum(a.zone == "answer" and a.matched_question not in q["expected"] for q, a in changed)
    n = len(items)
    return {"n": n, "unchanged": _share(n - len(changed), n), "changed_to_right": _share(right, n),
            "changed_to_wrong": _share(wrong, n)}  # fmt: skip


def same(a, b) -> bool:
    """The same zone and known question (the fallback zone has none)."""
    return (a.zone, a.matched_question, a.suggestions) == (b.zone, b.matched_question, b.suggestions)


async def measure(generator, pairs: list[dict], sets: dict[str, list[dict]]) -> dict:
    from bot.answering.answerer import Answerer

    questions = [p["question"] for p in pairs]
    async with Answerer(generator, **PATIENT) as answerer:
        after = await in_conversation(answerer, [p["previous"] for p in pairs], questions)
        set_after = {
            name: await in_conversation(answerer, unrelated_previous(items), [q["question"] for q in items])
            for name, items in sets.items()
        }
    async with Answerer(generator, **PATIENT) as answerer:  # the baseline: each asked alone, fresh start
        alone = await asyncio.gather(*(answerer.answer(q) for q in questions))
        set_alone = {
            name: await asyncio.gather(*(answerer.answer(q["question"]) for q in items))
            for name, items in sets.items()
        }
    out: dict = {}
    for part in sorted({p["part"] for p in pairs}):
        rows = [(p, a, b) for p, a, b in zip(pairs, after, alone, strict=True) if p["part"] == part]
        follow = [(p, a, b) for p, a, b in rows if p["kind"] == "followup"]
        stand = [(p, a, b) for p, a, b in rows if p["kind"] == "standalone"]
        out[part] = {
            "followups": followup_report([(p, a) for p, a, _ in follow]),
            "followups_english": followup_report([(p, a) for p, a, _ in follow if p["lang"] == "en"]),
            "baseline_alone": followup_report([(p, b) for p, _, b in follow]),
            "baseline_alone_english": followup_report([(p, b) for p, _, b in follow if p["lang"] == "en"]),
            "standalone": {
                "n": len(stand),
                "unchanged": _share(sum(same(a, b) for _, a, b in stand), len(stand)),
            },
        }
        f, s = out[part]["followups"], out[part]["standalone"]
        out[part]["target_met"] = {
            "right": f["right"] >= TARGETS["right"],
            "right_or_offered": f["right_or_offered"] >= TARGETS["right_or_offered"],
            "wrong": f["wrong"] <= TARGETS["wrong_max"],
            "standalone_unchanged": s["unchanged"] is not None
            and s["unchanged"] >= TARGETS["standalone_unchanged"],
        }
    for name, items in sets.items():
        out[f"standalone_{name}"] = standalone_report(items, set_after[name], set_alone[name])
    return out


def print_table(result: dict) -> None:
    def pct(x: float | None) -> str:
        return "    -" if x is None else f"{100 * x:5.1f}"

    out = [f"  {'':<28}{'n':>4}  {'right':>5}  {'r/off':>5}  {'wrong':>5}  {'unsure':>6}"]
    for part, r in result.items():
        if part.startswith("standalone_"):
            out.append(f"  {part + ' unchanged':<28}{r['n']:>4}  {pct(r['unchanged'])}  (changed to right "
                       f"{pct(r['changed_to_right'])}, to wrong {pct(r['changed_to_wrong'])})")  # fmt: skip
            continue
        for name in ("followups", "baseline_alone", "followups_english", "baseline_alone_english"):
            x = r[name]
            shares = (x["right"], x["right_or_offered"], x["wrong"], x["not_sure"])
            out.append(f"  {part + ' ' + name:<28}{x['n']:>4}  " + "  ".join(pct(v) for v in shares))
        alone = r["standalone"]
        out.append(f"  {part + ' standalone unchanged':<28}{alone['n']:>4}  {pct(alone['unchanged'])}")
    print("\n".join(out), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "current",
                        help="checkpoint folder (missing: make run's default, trained here)")  # fmt: skip
    parser.add_argument("--pairs", type=Path, default=ROOT / "examples" / "followups.json",
                        help="question pairs shaped like examples/followups.json")  # fmt: skip
    parser.add_argument("--standalone-sets", nargs="*", default=list(DISCORD_SETS), metavar="SET",
                        help="Discord-style sets asked, each question after an unrelated one")  # fmt: skip
    args = parser.parse_args()

    import transformers

    from bot.answering.torch_thread import call
    from training.config import TrainConfig
    from training.runtime.generate import Generator
    from training.train import train

    transformers.logging.set_verbosity_error()
    pairs = json.loads(args.pairs.read_text(encoding="utf-8"))["pairs"]
    sets = {Path(name).stem: load_set(name) for name in args.standalone_sets}
    with tempfile.TemporaryDirectory(prefix="qabot-followups-") as tmp:
        model_dir = args.model
        if not model_dir.exists():  # `make bench` on a fresh checkout
            data, out = [ROOT / "examples" / "soccer.json"], Path(tmp) / "run"
            config = TrainConfig(data=data, base="scratch", out=out, progress="json", no_current=True)
            model_dir = train(config, emit=lambda event: None)
        generator = call(Generator.load, model_dir)  # the serving precision (int8 on CPU)
        result = asyncio.run(measure(generator, pairs, sets))
    print_table(result)
    encoder = generator.manifest.get("retrieval", {}).get("encoder")
    print(json.dumps({"model": str(args.model), "retrieval_encoder": encoder, "parts": result}))


if __name__ == "__main__":
    main()

"""The desk's findings as text (Discord, the terminal) and as a chart (``--plot``): no ``discord`` here,
both front ends format the same facts the same way; ``show`` is how a front end shows people's words."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from bot.desk.gaps import Gap, GapReport
from storage.masking import mask_secrets

ShowText = Callable[[str, int], str]
PLOTTED_GAPS = 10


# Control characters and bidi overrides: a question's "\x1b]52;…" must not drive an admin's terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: str, limit: int) -> str:
    """Someone's words on one line, secrets masked (``storage.masking.mask_secrets``), without control
    characters, cut to ``limit`` characters (the terminal shows them so)."""
    text = _CONTROL.sub("", " ".join(mask_secrets(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nearest_line(gap: Gap, show: ShowText = plain) -> str:
    if gap.nearest is None:
        return "nothing known is near"
    return f"nearest known: “{show(gap.nearest, 80)}” ({gap.nearest_score:.2f})"


def gap_text(rank: int, gap: Gap, show: ShowText = plain) -> str:
    """One gap: rank, askers, count, a few wordings, the nearest known question."""
    who = f"{gap.askers} asker{'s' if gap.askers != 1 else ''}"
    lines = [f"{rank}. {who}, {gap.count} question{'s' if gap.count != 1 else ''} · #{gap.latest['id']}"]
    lines += [f"   “{show(e, 120)}”" for e in gap.examples]
    lines.append(f"   {nearest_line(gap, show)}")
    return "\n".join(lines)


def gaps_head(report: GapReport) -> str:
    """One line: how many gaps from how many questions, since when, how many answered since."""
    return (
        f"{len(report.gaps)} gap(s) from {report.considered} unanswered or 👎'd question(s)"
        + (f" since {report.since:%Y-%m-%d}" if report.since else "")
        + (f"; {report.covered} answered since" if report.covered else "")
        + (f"; {report.left_out} left out (past the encoding budget)" if report.left_out else "")
    )


def gaps_text(report: GapReport, show: ShowText = plain, limit: int | None = None) -> str:
    """The report: a head line, then each gap (``limit``: only the first that many)."""
    head = gaps_head(report)
    if not report.gaps:
        return head + ". Nothing waits. 🎉"
    shown = report.gaps if limit is None else report.gaps[:limit]
    return "\n".join([head + ":", *(gap_text(i, g, show) for i, g in enumerate(shown, 1))])


def shares_line(shares: Sequence[dict[str, Any]]) -> str:
    """Answered / suggested / not-sure shares over ``shares`` (``storage.desk.zone_shares``' days)."""
    totals = {k: sum(d[k] for d in shares) for k in ("answered", "suggested", "not_sure")}
    n = sum(totals.values())
    if not n:
        return "No questions in this period."
    return (
        f"{n} questions: answered {totals['answered'] / n:.0%} · did you mean {totals['suggested'] / n:.0%}"
        f" · not sure {totals['not_sure'] / n:.0%}"
    )


def gaps_png(report: GapReport, shares: Sequence[dict[str, Any]]) -> bytes:
    """Two panels as PNG bytes (matplotlib's Agg backend, no display): the top gaps by askers, and the
    answered / suggested / not-sure shares per day."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6), dpi=100)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    gaps = report.gaps[:PLOTTED_GAPS][::-1]  # largest on top
    labels = [plain(g.examples[0], 50).replace("$", r"\$") for g in gaps]  # "$…$" is no mathtext here
    top.barh(range(len(gaps)), [g.askers for g in gaps], color="#ED4245", tick_label=labels)
    top.set_title("Top gaps (distinct askers)")
    if not gaps:  # not an empty chart with a -0.04..0.04 axis
        top.text(0.5, 0.5, "No gaps in this period", ha="center", va="center", transform=top.transAxes)
        top.set_xticks([])
    top.tick_params(axis="y", labelsize=7)
    days = [d["day"] for d in shares]
    totals = [max(1, d["answered"] + d["suggested"] + d["not_sure"]) for d in shares]
    series = {
        k: [d[k] / t for d, t in zip(shares, totals, strict=True)]
        for k in ("answered", "suggested", "not_sure")
    }
    colours = {"answered": "#57F287", "suggested": "#FEE75C", "not_sure": "#ED4245"}
    labels = [d.strftime("%m-%d") if hasattr(d, "strftime") else str(d) for d in days]
    if days:  # stacked bars, not an area: one day of data is a bar (an area over one point has no width)
        below = [0.0] * len(days)
        for (name, values), colour in zip(series.items(), colours.values(), strict=True):
            bottom.bar(range(len(days)), values, bottom=below, width=0.9, color=colour, label=name)
            below = [b + v for b, v in zip(below, values, strict=True)]
        bottom.set_xticks(range(len(days)), labels, rotation=45, fontsize=7)
        bottom.legend(loc="upper left", fontsize=7)
    bottom.set_ylim(0, 1)
    bottom.set_title("Answered / did you mean / not sure, share per day")
    for ax in (top, bottom):
        ax.spines[["top", "right"]].set_visible(False)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # emoji the font lacks are drawn as boxes, not warned about
        warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        fig.tight_layout()
        fig.savefig(buf, format="png")
    return buf.getvalue()


def review_item_text(item: dict[str, Any], show: ShowText = plain) -> str:
    """One review item in a line or three, led by its id (``phrasing:12``, ``downvote:7``, ...)."""
    kind = item["kind"]
    if kind == "phrasing":
        who = f"{item['askers']} asker{'s' if item['askers'] != 1 else ''}"
        return (
            f"🔁 `{item['id']}` people asked “{show(item['wording'], 150)}” and chose "
            f"“{show(item['question'], 150)}” ({who})"
        )
    if kind == "downvote":
        return (
            f"👎 `{item['id']}` “{show(item['question'], 150)}” was answered "
            f"“{show(item['answer'], 300)}” ({item['downvotes']} 👎, net {item['net']})"
        )
    links = " ".join(u for u in (item.get("question_url"), item.get("answer_url")) if u)
    return (
        f"💬 `{item['id']}` a member's answer ({item['source']}): “{show(item['question'], 150)}”\n"
        f"   → “{show(item['answer'], 300)}”" + (f"\n   {links}" if links else "")
    )


def review_text(
    items: Sequence[dict[str, Any]], show: ShowText = plain, counts: dict[str, int] | None = None
) -> str:
    """The queue: counts per kind (``counts``: all that wait, when more than ``items``), then each item."""
    if not items:
        return "Nothing waits for review. 🎉"
    counts = counts or {
        k: sum(1 for i in items if i["kind"] == k) for k in ("phrasing", "downvote", "candidate")
    }
    total = sum(counts.values())
    shown = f" ({len(items)} shown)" if total > len(items) else ""
    head = (
        f"{total} item(s) to review: {counts['phrasing']} phrasing(s), {counts['downvote']} 👎'd "
        f"answer(s), {counts['candidate']} member answer(s){shown}:"
    )
    return "\n".join([head, *(review_item_text(i, show) for i in items)])

"""Admin actions shared by the Discord admin cog and the terminal: exports, summaries, the stats chart.

No ``discord`` import here: both front ends format the same facts the same way.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import shutil
from pathlib import Path
from typing import Any

from bot.async_store import SessionFactory
from storage.formats import check_format, default_file_name


async def export_file(session_factory: SessionFactory, fmt: str, path: Path) -> tuple[Path, int]:
    """Export the store as ``fmt`` to ``path`` (a folder: a file named after the format); (file, rows)."""
    from storage.export import export_dataset

    check_format(fmt)
    path = Path(path)
    if path.is_dir():
        path = path / default_file_name(fmt)
    rows = await asyncio.to_thread(export_dataset, session_factory, fmt, path)
    return path, rows


def gzip_file(path: Path) -> Path:
    """``path`` + ``.gz`` beside it (for uploads over Discord's size limit)."""
    out = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(out, "wb", compresslevel=9) as dst:
        shutil.copyfileobj(src, dst)
    return out


def model_summary(manifest: dict[str, Any] | None, version: str) -> str:
    """A few lines about the serving checkpoint, from its manifest."""
    if not manifest:
        return f"Model `{version}` (no manifest)."
    dataset = manifest.get("dataset") or {}
    hyper = manifest.get("hyperparameters") or {}
    lines = [
        f"Model `{version}` — base `{manifest.get('base', '?')}`"
        + (f", size `{manifest['size']}`" if manifest.get("size") else ""),
        f"Trained {manifest.get('created_at', '?')} on {dataset.get('train', '?')} pairs "
        f"(eval {dataset.get('eval', '?')}; dataset sha256 {str(dataset.get('sha256', '?'))[:12]})",
    ]
    metrics = manifest.get("metrics") or {}
    if metrics:
        lines.append("Metrics: " + format_metrics(metrics))
    if hyper:
        shown = {
            k: hyper[k] for k in ("epochs", "learning_rate", "lr", "batch_size", "max_steps") if k in hyper
        }
        if shown:
            lines.append("Hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    threshold = manifest.get("confidence_threshold")
    lines.append(
        f"Confidence threshold: {threshold:.3f}" if threshold is not None else "No calibrated threshold"
    )
    return "\n".join(lines)


def format_metrics(metrics: dict[str, Any]) -> str:
    shown = []
    for key in ("exact_match", "f1", "rougeL", "eval_loss"):
        value = metrics.get(key)
        if isinstance(value, int | float):
            shown.append(f"{key} {value:.3f}")
    return ", ".join(shown) or "none recorded"


def stats_text(stats: dict[str, Any], version: str, manifest: dict[str, Any] | None) -> str:
    up, down = stats.get("upvotes", 0), stats.get("downvotes", 0)
    ratio = stats.get("vote_ratio")
    lines = [
        f"Questions: {stats.get('total', 0)} · unanswered: {stats.get('unanswered', 0)}",
        f"Votes: 👍 {up} · 👎 {down}" + (f" · ratio {ratio:.0%}" if isinstance(ratio, int | float) else ""),
        f"Model: `{version}` — " + format_metrics((manifest or {}).get("metrics") or {}),
    ]
    top = stats.get("top_questions") or []
    if top:
        lines.append("Top questions:")
        for item in top[:5]:
            question, count = (item[0], item[1]) if isinstance(item, list | tuple) else (item, "")
            lines.append(f"  {count}× {str(question)[:80]}")
    return "\n".join(lines)


def unanswered_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No unanswered questions. 🎉"
    lines = ["Unanswered questions (oldest first) — answer with `/teach question: … answer: …`:"]
    for row in rows:
        when = row.get("created_at")
        stamp = when.strftime("%Y-%m-%d") if hasattr(when, "strftime") else ""
        lines.append(f"• #{row['id']} {stamp} — {str(row['question'])[:150]}")
    return "\n".join(lines)


def questions_per_day_png(per_day: list[tuple[Any, int]]) -> bytes:
    """A small bar chart of questions per day, as PNG bytes (matplotlib's Agg backend: no display)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.5), dpi=100)
    ax = fig.add_subplot()
    labels = [d.strftime("%m-%d") if hasattr(d, "strftime") else str(d)[5:10] for d, _ in per_day]
    ax.bar(labels, [n for _, n in per_day], color="#5865F2")
    ax.set_title("Questions per day")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()

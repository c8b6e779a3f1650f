"""Writing a finished run into its (staging) checkpoint folder: model + tokenizer (ready for plain
transformers: ``training/interop.py``), GPTQ int8 weights, final evaluation, calibrated confidence
threshold, the retrieval index over the known questions (``retrieval/``) with its calibrated answer
zones, ``manifest.json``, the model card ``README.md``, ``metrics.json``, ``split.json``,
``data_report.json`` and ``loss.png``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from training.checkpoint import LOSS_PLOT, MANIFEST, METRICS, SPLIT, library_versions, utc_now, write_json
from training.evaluate import evaluate_records, recall_sample
from training.interop import model_context, prepare_for_transformers
from training.model_card import write_model_card
from training.prompt import STOP_STRINGS, format_answer, format_prompt, prompt_template
from training.records import Record
from training.retrieval.calibrate import calibrate_threshold

DATA_REPORT = "data_report.json"
log = logging.getLogger(__name__)


def plot_losses(log_history: list[dict[str, Any]], path: Path) -> None:
    """Train and eval loss against step (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss")
    if evals:
        ax.plot(*zip(*evals, strict=True), marker="o", label="eval loss (answer tokens)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_title("qabot training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def final_metrics(
    model: Any, tokenizer: Any, train_recs: list[Record], eval_recs: list[Record], config: Any
) -> tuple[dict[str, Any], float | None]:
    """Eval-split and recall metrics, and the confidence threshold calibrated on their generations."""
    from training.runtime.generate import Generator

    generator = Generator(model, tokenizer)
    metrics: dict[str, Any] = {}
    details: list[dict[str, Any]] = []
    if eval_recs:
        ev = evaluate_records(
            model,
            tokenizer,
            eval_recs,
            generator=generator,
            max_new_tokens=config.max_new_tokens,
            with_details=True,
        )
        details += ev.pop("details")
        metrics.update({k: ev[k] for k in ("eval_loss", "perplexity", "exact_match", "f1", "rougeL")})
        metrics["eval_n"] = ev["n"]
    sample = recall_sample(train_recs, config.recall_sample, config.seed)
    if sample:
        rc = evaluate_records(
            model,
            tokenizer,
            sample,
            generator=generator,
            max_new_tokens=config.max_new_tokens,
            with_details=True,
        )
        details += rc.pop("details")
        metrics.update({f"recall_{k}": rc[k] for k in ("exact_match", "f1", "rougeL")})
        metrics["recall_loss"] = rc["eval_loss"]
        metrics["recall_n"] = rc["n"]
    # Calibrated on held-out *and* taught questions: the bot meets both, and a scratch model is wrong on
    # nearly every held-out one, which alone would put the cut above the answers it knows.
    threshold = calibrate_threshold([d["confidence"] for d in details], [d["f1"] for d in details])
    return metrics, threshold


def write_retrieval(
    folder: Path,
    train_recs: list[Record],
    eval_recs: list[Record],
    encoder: str | None,
    synonyms: Path | None = None,
    tune_encoder: bool = True,
    wordings: Path | None = None,
) -> dict[str, Any]:
    """Calibrate the answer zones with an index over the training records (the eval questions unknown
    to it), then save the index over every record in ``folder``; returns the manifest's summary.
    ``synonyms``: admins' synonyms (``--synonyms``), saved with the alterations learned from the data;
    ``wordings``: people's wordings of known questions (``--wordings``), which the encoder is tuned on."""
    from training.metrics import token_f1
    from training.retrieval.alterations import admin_entries, read_synonyms
    from training.retrieval.alterations_learning import learn
    from training.retrieval.embedder import Embedder
    from training.retrieval.index import HELD_OUT, RetrievalIndex
    from training.retrieval.vectors import Vectors
    from training.retrieval.zones import calibrate_zones

    started = time.perf_counter()
    admins = admin_entries(read_synonyms(synonyms)) if synonyms is not None else []
    embedder = Embedder.load(encoder)
    # Word alterations learned from the data the index knows (calibration's: the training records only).
    index = RetrievalIndex.build(train_recs, embedder, alterations=learn(train_recs).merged(admins))
    tuning = None
    if embedder is not None and tune_encoder:  # the encoder tuned on this dataset, when it passes its gate
        from training.retrieval.encoder_training import read_wordings
        from training.retrieval.encoder_training import tune_encoder as tune

        people = read_wordings(wordings, train_recs) if wordings is not None else []
        tuning = tune(embedder, train_recs, index, wordings=people)
        if tuning.report["kept"]:
            embedder = tuning.embedder
            index = RetrievalIndex.build(train_recs, embedder, tuning.vectors, alterations=index.alterations)
    zones, calibration = calibrate_zones(train_recs, eval_recs, index, token_f1)
    if eval_recs:  # serve everything the dataset knows; the eval pairs were unknown only to calibrate
        held_out = [{**r, "origin": HELD_OUT} for r in eval_recs]  # never trained: served as stored
        vectors = None
        if index.vectors is not None and embedder is not None:  # the training pairs are encoded already
            vectors = index.vectors + Vectors.encode(embedder, eval_recs)
        index = RetrievalIndex.build(
            [*train_recs, *held_out],
            embedder,
            vectors,
            alterations=learn([*train_recs, *eval_recs]).merged(admins),
        )
    index.save(folder)
    return {
        "records": len(index),
        "encoder": embedder.name if embedder is not None else None,
        "encoder_tuning": tuning.report if tuning is not None else None,
        "alterations": len(index.alterations),
        "calibration": calibration,
        "seconds": round(time.perf_counter() - started, 1),
        "zones": zones.to_dict(),
    }


def tokenizer_report(records: list[Record], tokenizer: Any, name: str, context: int) -> dict[str, Any]:
    """Example lengths (prompt + answer + EOS) in the tokenizer the model was trained with, against its
    context: what ``data_report.json`` says instead of the GPT-2 count that dataset checks use."""
    import numpy as np

    texts = [format_prompt(r["question"]) + format_answer(r["answer"], "") for r in records]
    lengths = np.asarray([len(ids) + 1 for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]])
    return {
        "tokenizer": name,
        "tokenizer_class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "context": context,
        "mean": round(float(lengths.mean()), 1) if len(lengths) else None,
        "p50": float(np.percentile(lengths, 50)) if len(lengths) else None,
        "p95": float(np.percentile(lengths, 95)) if len(lengths) else None,
        "max": int(lengths.max()) if len(lengths) else None,
        "over_context": int((lengths > context).sum()),
        "sampled": None,
    }


def write_checkpoint(
    folder: Path,
    *,
    model: Any,
    tokenizer: Any,
    loaded: Any,
    config: Any,
    cleaned: Any,
    train_recs: list[Record],
    eval_recs: list[Record],
    log_history: list[dict[str, Any]],
    train_seconds: float,
    sha256: str,
    model_version: str,
) -> None:
    """Everything a checkpoint folder holds, written into ``folder``."""
    from training.runtime.gptq import INT8_FILE, write_int8_weights

    context = model_context(model)
    prepare_for_transformers(model, tokenizer, config.max_new_tokens)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    try:
        int8 = write_int8_weights(folder, model, tokenizer, train_recs)
    except Exception as e:  # optional: without the file int8 rounds to nearest at load; keep the model
        error = f"{type(e).__name__}: {e}"
        log.warning("GPTQ int8 weights skipped (%s); int8 serving will round to nearest", error)
        (folder / INT8_FILE).unlink(missing_ok=True)
        int8 = {"file": None, "method": "round-to-nearest at load", "error": error}
    metrics, threshold = final_metrics(model, tokenizer, train_recs, eval_recs, config)
    retrieval = write_retrieval(
        folder,
        train_recs,
        eval_recs,
        config.encoder,
        config.synonyms,
        not config.no_tune_encoder,
        config.wordings,
    )
    train_logs = [h for h in log_history if "train_runtime" in h]
    metrics["train_seconds"] = round(train_seconds, 1)
    if train_logs:
        metrics["train_loss"] = train_logs[-1].get("train_loss")
    losses = [h["loss"] for h in log_history if "loss" in h]
    metrics["final_loss"] = losses[-1] if losses else None
    metrics["steps"] = max((h.get("step", 0) for h in log_history), default=0)
    report = cleaned.report.to_dict()
    # The cleaning report measured lengths with GPT-2's BPE; the model was trained with this tokenizer.
    report["tokens_gpt2"] = report.get("tokens")
    name = loaded.tokenizer_name if loaded.tokenizer_name != "pretrained" else f"pretrained ({loaded.base})"
    report["tokens"] = tokenizer_report(cleaned.records, tokenizer, name, context)
    manifest = {
        "base": loaded.base,
        "size": loaded.size,
        "tokenizer": loaded.tokenizer_name,
        "vocab_size": len(tokenizer),
        "parameters": sum(p.numel() for p in model.parameters()),
        "context": context,
        "prompt_template": prompt_template(tokenizer.eos_token),
        "stop_strings": list(STOP_STRINGS),
        "dataset": {
            "files": [str(p) for p in config.data],
            "sha256": sha256,
            "records_in": report.get("records_in"),
            "records_out": len(cleaned.records),
            "train": len(train_recs),
            "eval": len(eval_recs),
        },
        "hyperparameters": {
            k: v
            for k, v in config.to_dict().items()
            if k not in ("data", "out", "models_root", "progress", "resume", "no_current", "stale_work_hours")
        },
        "metrics": metrics,
        "confidence_threshold": threshold,
        "zones": retrieval.pop("zones"),
        "retrieval": retrieval,
        "int8": int8,
        "versions": library_versions(),
        "created_at": utc_now(),
        "model_version": model_version,
    }
    write_json(folder / METRICS, metrics)
    write_json(folder / SPLIT, {"train": train_recs, "eval": eval_recs})
    write_json(folder / DATA_REPORT, report)
    plot_losses(log_history, folder / LOSS_PLOT)
    write_model_card(folder, manifest)
    write_json(folder / MANIFEST, manifest)  # last: a folder with a manifest is a complete checkpoint

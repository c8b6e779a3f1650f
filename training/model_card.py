"""The model card (``README.md``) every checkpoint carries, rendered from its ``manifest.json``.

Hugging Face's model-card layout: YAML metadata (library, pipeline tag, base model when it is a hub
model) and sections for what the model is, what it was trained on, how well it does, the prompt it
expects, how to load it (plain transformers and qabot) and what it is not for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.prompt import DEFAULT_MAX_NEW_TOKENS

MODEL_CARD = "README.md"
# Metrics shown in the card, in this order, with what each measures.
CARD_METRICS = {
    "exact_match": "held-out questions answered exactly (SQuAD normalization)",
    "f1": "held-out token F1",
    "rougeL": "held-out ROUGE-L",
    "eval_loss": "held-out answer-token loss",
    "recall_f1": "training questions re-asked: token F1",
    "recall_exact_match": "training questions re-asked: exact match",
    "final_loss": "last training loss",
    "steps": "optimizer steps",
    "train_seconds": "training time (s)",
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _front_matter(manifest: dict[str, Any]) -> str:
    lines = ["---", "library_name: transformers", "pipeline_tag: text-generation"]
    base = str(manifest.get("base") or "")
    # base_model links the card to a hub model; a scratch model or a local folder has none to link.
    if base and base != "scratch" and not base.startswith((".", "/", "~")) and base.count("/") <= 1:
        lines.append(f"base_model: {base}")
    lines += ["tags:", "- qabot", "- question-answering", "- text-generation", "---"]
    return "\n".join(lines)


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = [
        f"| {name} | {_fmt(metrics[name])} | {about} |"
        for name, about in CARD_METRICS.items()
        if name in metrics  # e.g. no recall_* with --recall-sample 0
    ]
    if not rows:
        return "No metrics were recorded."
    n = metrics.get("eval_n")
    head = f"Held-out questions: {n}.\n\n" if n else "No held-out split (every pair trained).\n\n"
    return head + "| metric | value | what |\n|---|---|---|\n" + "\n".join(rows)


def render_model_card(manifest: dict[str, Any]) -> str:
    """The card's Markdown for a checkpoint described by ``manifest``."""
    version = manifest.get("model_version", "qabot")
    data = manifest.get("dataset") or {}
    hyper = manifest.get("hyperparameters") or {}
    zones = manifest.get("zones") or {}
    files = ", ".join(f"`{Path(f).name}`" for f in data.get("files") or []) or "n/a"
    stops = ", ".join(f"`{json.dumps(s)}`" for s in manifest.get("stop_strings") or [])
    max_new = hyper.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    base = f"`{manifest.get('base', 'n/a')}`"
    if manifest.get("size"):
        base += f" (size preset `{manifest['size']}`)"
    zone_rows = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in zones.items())
    return f"""{_front_matter(manifest)}

# {version}

A question-answering model trained by qabot on a set of question/answer pairs. It answers the questions
of its dataset (and close rewordings, when qabot's retrieval index picks the known question first); it
is not a general chat model.

| | |
|---|---|
| base | {base} |
| tokenizer | `{manifest.get("tokenizer", "n/a")}`, {_fmt(manifest.get("vocab_size"))} tokens |
| parameters | {_fmt(manifest.get("parameters"))} |
| context | {_fmt(manifest.get("context"))} tokens (prompt + answer) |
| created | {_fmt(manifest.get("created_at"))} |

## Training data

Files: {files}. SHA-256 of the cleaned records: `{_fmt(data.get("sha256"))}`.
Records: {_fmt(data.get("records_in"))} read, {_fmt(data.get("records_out"))} after cleaning,
{_fmt(data.get("train"))} trained, {_fmt(data.get("eval"))} held out (split by question).
`split.json` lists both sides; `data_report.json` says what cleaning removed and why.

## Evaluation

{_metrics_table(manifest.get("metrics") or {})}

## Answer zones

qabot answers only when the nearest known question is close enough (calibrated at training time):
confidence threshold {_fmt(manifest.get("confidence_threshold"))}.

| threshold | value |
|---|---|
{zone_rows}

## Prompt

The model was trained on this text, the question filled in and the answer ending with the EOS token:

```text
{manifest.get("prompt_template", "")}
```

The tokenizer's `chat_template` renders a user message as that prompt and an assistant message as the
answer + EOS, so chat-style callers and TRL's conversational datasets produce the same text. Decoding is
greedy, at most {max_new} new tokens, ending at EOS or at a new turn ({stops}): all in
`generation_config.json`.

## How to use

With plain transformers (the tokenizer is passed to apply the stop strings, as transformers requires):

```python
import re
from transformers import pipeline

pipe = pipeline("text-generation", model="path/to/{version}")
out = pipe([{{"role": "user", "content": "What is offside?"}}], tokenizer=pipe.tokenizer)
text = out[0]["generated_text"][-1]["content"]
answer = re.split(r"\\nQuestion:|\\nAnswer:", text)[0].strip()  # a stop string is kept in the output
```

The tokenizer's `model_max_length` is the context: a longer prompt makes transformers warn that it is
"longer than the specified maximum sequence length", and the model cannot read it. Pass
`handle_long_generation="hole"` to keep the prompt's end and leave room for the answer.

With qabot (retrieval in front of the model, calibrated zones, the Discord bot):

```sh
qabot ask --model path/to/{version} "What is offside?"
qabot run --model path/to/{version}
```

## Intended use and limits

- Answering the questions of its own dataset, in a community help channel, behind qabot's retrieval
  and confidence zones. Alone, a model this small memorises its answers: it does well on the trained
  wording and poorly on rewordings, and it will state a wrong answer fluently when it does not know.
- Not for facts outside the dataset, advice that matters (medical, legal, financial, safety) or
  unsupervised use: keep the "not sure" fallback and the admins' corrections in the loop.
- It reproduces its data, including its errors and biases; the dataset hash above names what it learned.
"""


def write_model_card(folder: Path, manifest: dict[str, Any]) -> Path:
    path = Path(folder) / MODEL_CARD
    path.write_text(render_model_card(manifest), encoding="utf-8")
    return path

"""``python -m training`` — the training command line (``qabot train`` runs the same ``main``).

python -m training --data examples/soccer.json --base scratch
torchrun --nproc_per_node 2 -m training --data examples/soccer.json --base scratch --max-steps 50
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import traceback
from typing import Any

import huggingface_hub
import transformers

from training.checkpoint import CheckpointError
from training.config import parse_config
from training.data import DatasetError
from training.exit_codes import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from training.model import ModelLoadError
from training.redact import redact, redact_logging
from training.train import TrainingError, is_rank_zero, leave_process_group, read_metrics, train

# Errors that mean "the request cannot run as asked": reported in one line with exit code 2.
EXPECTED_ERRORS = (CheckpointError, DatasetError, ModelLoadError, TrainingError)


def emit_json(event: dict[str, Any]) -> None:
    # Not training.callbacks.emit_json: that module imports Trainer (seconds), and errors such as an
    # unreachable hub must be reported within seconds.
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def _raise_interrupt(signum: int, frame: Any) -> None:
    # SIGTERM becomes KeyboardInterrupt so the staging folder is cleaned up on the way out; the previous
    # checkpoint and the current pointer are never touched before a run succeeds either way.
    raise KeyboardInterrupt(f"signal {signum}")


def _summary(model_dir: Any, metrics: dict[str, Any]) -> str:
    """One line a newcomer can read: held-out F1 is the model alone on questions it never saw (low for a
    model trained from scratch; the bot's retrieval serves such wordings), so it is named as such."""
    f1s = []
    if metrics.get("recall_f1") is not None:
        f1s.append(f"{metrics['recall_f1']:.3f} on trained questions")
    if metrics.get("f1") is not None:
        f1s.append(f"{metrics['f1']:.3f} on held-out ones by the model alone (retrieval serves those)")
    parts = [f"answer F1 {', '.join(f1s)}"] if f1s else []
    if metrics.get("eval_loss") is not None:
        parts.append(f"eval loss {metrics['eval_loss']:.3f}")
    return f"Saved model to {model_dir}" + (f": {'; '.join(parts)}" if parts else "")


def main(argv: list[str] | None = None, prog: str = "python -m training") -> int:
    """Run training from command-line arguments; returns the process exit code."""
    config = parse_config(argv, prog)
    json_mode = config.progress == "json"
    # One progress bar: the Trainer's own (tqdm, unaffected), not transformers' "Writing model shards" one
    # at every checkpoint save; a first download of --base (huggingface_hub's bars) still shows its own.
    transformers.logging.disable_progress_bar()
    if json_mode:
        transformers.logging.set_verbosity_error()
    else:
        huggingface_hub.utils.enable_progress_bars()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    redact_logging()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)

    def fail(message: str, code: int) -> int:
        message = redact(message)
        if json_mode:
            emit_json({"event": "error", "message": message})
        print(f"error: {message}", file=sys.stderr)  # as every qabot command says it
        return code

    try:
        model_dir = train(config)
    except KeyboardInterrupt:
        return fail(
            "training interrupted; the previous model is untouched (continue with --resume)", EXIT_INTERRUPTED
        )
    except EXPECTED_ERRORS as e:
        return fail(str(e), EXIT_USAGE)
    except Exception as e:  # anything else: still one JSON error line for the retrain job, then the trace
        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        return fail(f"{type(e).__name__}: {e}", EXIT_ERROR)
    finally:
        leave_process_group()
    if is_rank_zero():
        metrics = read_metrics(model_dir)
        if json_mode:
            emit_json({"event": "done", "model_dir": str(model_dir), "metrics": metrics})
        else:
            print(_summary(model_dir, metrics))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

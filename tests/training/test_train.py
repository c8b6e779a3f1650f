"""`train()`, `python -m training` and `qabot train|eval` on tiny scratch runs of a few steps."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.training.train_support import tiny_config, write_dataset
from training.__main__ import main
from training.checkpoint import RETRAIN_LOCK, CheckpointError, read_manifest, resolve_model_dir
from training.config import CONTINUE_DEFAULTS, base_defaults
from training.retrieval.index import RetrievalIndex
from training.retrieval.zones import ZoneThresholds
from training.train import train


@pytest.fixture(scope="session")
def dataset_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "cup.json")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, dataset_file: Path) -> tuple[Path, list[dict]]:
    """(checkpoint folder under <tmp>/models, the JSON progress events it emitted)."""
    events: list[dict] = []
    out = train(tiny_config(dataset_file, tmp_path_factory.mktemp("models") / "run-1"), emit=events.append)
    return out, events


MANIFEST_KEYS = {
    "base", "size", "tokenizer", "dataset", "hyperparameters", "metrics", "confidence_threshold",
    "versions", "created_at", "model_version", "int8", "zones", "retrieval",
}  # fmt: skip


@pytest.mark.slow
def test_checkpoint_is_complete_and_current_points_to_it(trained_run):
    out, _ = trained_run
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "split.json",
                 "loss.png", "data_report.json", "int8.safetensors"):  # fmt: skip
        assert (out / name).is_file(), name
    manifest = read_manifest(out)
    assert manifest.keys() >= MANIFEST_KEYS
    assert manifest["base"] == "scratch" and manifest["size"] == "tiny" and manifest["tokenizer"] == "bpe"
    ds = manifest["dataset"]
    assert ds["records_out"] == ds["train"] + ds["eval"] == 24 and len(ds["sha256"]) == 64
    assert {"eval_loss", "f1", "exact_match", "rougeL", "recall_f1"} <= manifest["metrics"].keys()
    assert manifest["int8"]["method"] == "gptq" and manifest["int8"]["calibration_texts"] == ds["train"]
    assert resolve_model_dir(out.parent / "current") == out.resolve()
    left = [p.name for p in out.parent.glob(".*")]
    assert left == [RETRAIN_LOCK]  # no staging or work folder left behind (the lock file is empty)
    split = json.loads((out / "split.json").read_text())
    train_q = {r["question"] for r in split["train"]}
    assert split["eval"] and not train_q & {r["question"] for r in split["eval"]}


@pytest.mark.slow
def test_checkpoint_indexes_every_known_question_with_calibrated_zones(trained_run):
    out, _ = trained_run
    manifest = read_manifest(out)
    index = RetrievalIndex.load(out)
    split = json.loads((out / "split.json").read_text())
    # Every pair the dataset knows is served, the eval ones too (they were unknown only to calibrate).
    assert index is not None and len(index) == manifest["retrieval"]["records"] == 24
    assert {r["question"] for r in index.records} == {r["question"] for r in split["train"] + split["eval"]}
    zones = ZoneThresholds.from_dict(manifest["zones"])
    assert 0.0 < zones.suggest_score <= zones.answer_score <= 1.0
    assert manifest["retrieval"]["encoder"] is None  # tiny_config: words only
    asked = split["eval"][0]["question"]
    assert index.search(asked)[0].question == asked
    assert index.search(asked)[0].origin == "held_out"  # known to the index, never learned by the model


@pytest.mark.slow
def test_json_progress_reports_steps_and_eta(trained_run):
    _, events = trained_run
    logs = [e for e in events if e["event"] == "log"]
    assert logs and all({"step", "epoch", "loss", "eta_s", "max_steps"} <= e.keys() for e in logs)
    assert logs[-1]["step"] == 8 and logs[-1]["eta_s"] == 0
    assert any(e["event"] == "eval" and e["eval_loss"] > 0 for e in events)


@pytest.mark.slow
def test_progress_bar_shows_the_losses_on_the_bar_not_log_dicts(dataset_file, tmp_path, capfd):
    out_dir = tmp_path / "m" / "r"
    code = main(["--data", str(dataset_file), "--base", "scratch", "--size", "tiny", "--max-steps", "4",
                 "--recall-sample", "1", "--encoder", "none", "--out", str(out_dir),
                 "--no-current"])  # fmt: skip
    out, err = capfd.readouterr()
    assert code == 0
    assert "4/4" in err and "loss=" in err and "eval_loss=" in err  # tqdm's bar, with its postfix
    assert "{'loss'" not in out + err and "'train_runtime'" not in out + err  # no raw Trainer dicts
    # The summary names what each F1 measures (held-out: the model alone, without retrieval).
    assert out.startswith(f"Saved model to {out_dir}: answer F1 ")
    assert "on trained questions" in out
    assert "on held-out ones by the model alone (retrieval serves those); eval loss " in out
    # One progress bar: no "Writing model shards" bar at each save, no warning about GPT-2's loss type.
    assert "Writing model shards" not in err and "loss_type" not in err


@pytest.mark.slow
def test_a_gptq_failure_keeps_the_trained_model_without_int8_weights(dataset_file, tmp_path, monkeypatch):
    import training.runtime.gptq

    def broken(folder, *args):
        (folder / training.runtime.gptq.INT8_FILE).write_bytes(b"half written")
        raise RuntimeError("out of memory")

    monkeypatch.setattr(training.runtime.gptq, "write_int8_weights", broken)
    out = train(tiny_config(dataset_file, tmp_path / "m" / "r", max_steps=2, recall_sample=1))
    int8 = read_manifest(out)["int8"]
    assert int8["file"] is None and int8["error"] == "RuntimeError: out of memory"
    assert not (out / training.runtime.gptq.INT8_FILE).exists() and (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_loss_decreases(dataset_file, tmp_path):
    events: list[dict] = []
    train(tiny_config(dataset_file, tmp_path / "m" / "r", max_steps=30, recall_sample=1), emit=events.append)
    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.slow
def test_crash_during_save_leaves_previous_model_and_pointer(trained_run, dataset_file, monkeypatch):
    import training.report

    out, _ = trained_run
    before = (out / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full while plotting")

    monkeypatch.setattr(training.report, "plot_losses", crash)
    with pytest.raises(CheckpointError, match=r"could not write the checkpoint to .*run-2 \(disk full"):
        train(
            tiny_config(dataset_file, out.parent / "run-2", max_steps=2, recall_sample=1), emit=lambda e: None
        )
    assert not (out.parent / "run-2").exists()
    assert resolve_model_dir(out.parent / "current") == out.resolve()
    assert (out / "model.safetensors").read_bytes() == before
    assert not list(out.parent.glob(".tmp-*"))


@pytest.mark.slow
def test_a_bot_retraining_keeps_the_pointer_where_it_is(trained_run, dataset_file):
    """`qabot train` beside a bot's /retrain: moving models/current under it would let the retrain's swap
    replace the new model unjudged (or this run replace the retrained one); the model is kept, the pointer
    is left."""
    from filelock import FileLock

    out, _ = trained_run
    held = FileLock(out.parent / RETRAIN_LOCK, thread_local=False)
    held.acquire()  # as the bot's RetrainJob holds it, from start to swap
    try:
        with pytest.raises(CheckpointError, match=r"saved in .*run-3, but a bot process is retraining"):
            train(
                tiny_config(dataset_file, out.parent / "run-3", max_steps=2, recall_sample=1),
                emit=lambda e: None,
            )
    finally:
        held.release()
    assert resolve_model_dir(out.parent / "current") == out.resolve()
    assert resolve_model_dir(out.parent / "run-3") == (out.parent / "run-3").resolve()


def _interrupt_at_step_5(event):
    if event.get("step") == 5:
        raise KeyboardInterrupt


def _interrupted_run(dataset_file, tmp_path, **overrides):
    """A run of 6 steps stopped at step 5: its work folder holds checkpoint-4. Returns its config."""
    cfg = tiny_config(
        dataset_file, tmp_path / "models" / "r", max_steps=6, save_steps=2, recall_sample=1, **overrides
    )
    with pytest.raises(KeyboardInterrupt):
        train(cfg, emit=_interrupt_at_step_5)
    assert (tmp_path / "models" / ".work-r" / "trainer" / "checkpoint-4" / "trainer_state.json").is_file()
    return cfg


@pytest.mark.slow
def test_resume_continues_from_the_last_trainer_checkpoint(dataset_file, tmp_path):
    cfg = _interrupted_run(dataset_file, tmp_path)
    assert not (tmp_path / "models" / "r").exists() and not (tmp_path / "models" / "current").exists()
    events: list[dict] = []
    cfg.resume = True
    out = train(cfg, emit=events.append)
    steps = [e["step"] for e in events if e["event"] == "log"]
    assert steps[0] == 5 and steps[-1] == 6  # steps 1-4 came from checkpoint-4
    assert read_manifest(out)["metrics"]["steps"] == 6


@pytest.mark.slow
def test_resume_takes_the_options_not_given_from_the_interrupted_run(dataset_file, tmp_path, capsys):
    # A tiny scratch run (not the default distilgpt2, small size, 64 answer tokens...) stopped at step 5.
    cfg = _interrupted_run(dataset_file, tmp_path)
    # Resumed with only --resume and --out: base, size, data, steps... come from train_config.json; an
    # option given again wins.
    code = main(["--resume", "--out", str(cfg.out), "--max-steps", "7", "--progress", "json"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0, events[-1]
    steps = [e["step"] for e in events if e["event"] == "log"]
    assert steps[0] == 5 and steps[-1] == 7  # steps 1-4 came from checkpoint-4, of the same model
    manifest = read_manifest(cfg.out)
    assert manifest["base"] == "scratch" and manifest["size"] == "tiny" and manifest["tokenizer"] == "bpe"
    assert manifest["hyperparameters"]["max_steps"] == 7 and manifest["hyperparameters"]["lr"] == cfg.lr


@pytest.mark.parametrize("text", ["{not json", "[]", '{"size": 3}'])
def test_resume_with_a_corrupt_train_config_names_the_file(tmp_path, capsys, text):
    work = tmp_path / "models" / ".work-r"
    (work / "trainer").mkdir(parents=True)
    (work / "train_config.json").write_text(text)
    code = main(["--resume", "--out", str(tmp_path / "models" / "r"), "--progress", "json"])
    out = capsys.readouterr()
    assert code == 2 and "Traceback" not in out.err
    message = json.loads(out.out.strip().splitlines()[-1])["message"]
    assert f"{work / 'train_config.json'} is " in message and "start a new run" in message


@pytest.mark.slow
def test_resume_skips_a_half_written_trainer_checkpoint(dataset_file, tmp_path):
    cfg = _interrupted_run(dataset_file, tmp_path)
    trainer_dir = tmp_path / "models" / ".work-r" / "trainer"
    half = trainer_dir / "checkpoint-99999"  # killed while saving: weights, no trainer_state.json
    half.mkdir()
    shutil.copy(trainer_dir / "checkpoint-4" / "model.safetensors", half)
    events: list[dict] = []
    cfg.resume = True
    out = train(cfg, emit=events.append)
    steps = [e["step"] for e in events if e["event"] == "log"]
    assert steps[0] == 5 and steps[-1] == 6  # from checkpoint-4, the newest complete one
    assert read_manifest(out)["metrics"]["steps"] == 6


@pytest.mark.slow
def test_pretrained_folder_base_is_fine_tuned(trained_run, dataset_file, tmp_path):
    base, _ = trained_run
    config = tiny_config(dataset_file, tmp_path / "ft", base=str(base), max_steps=2, recall_sample=1, lr=None)
    # What the bot's retrain passes: the gate's fixed eval questions. Another seed would split differently.
    config.holdout, config.seed = base / "split.json", 7
    out = train(config, emit=lambda e: None)
    manifest = read_manifest(out)
    held = {r["question"] for r in json.loads((base / "split.json").read_text())["eval"]}
    new_split = json.loads((out / "split.json").read_text())
    assert held <= {r["question"] for r in new_split["eval"]}
    assert not held & {r["question"] for r in new_split["train"]}
    assert manifest["base"] == str(base) and manifest["vocab_size"] == read_manifest(base)["vocab_size"]
    # continuing a scratch-trained qabot checkpoint keeps its lineage and takes the "continue" defaults
    assert manifest["size"] == "tiny" and manifest["tokenizer"] == "bpe"
    assert manifest["hyperparameters"]["lr"] == CONTINUE_DEFAULTS["lr"] == base_defaults(str(base))["lr"]


@pytest.mark.slow
def test_a_full_disk_while_saving_is_an_error_naming_the_folder(dataset_file, tmp_path, capsys, monkeypatch):
    import training.report

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(training.report, "plot_losses", disk_full)  # halfway through writing the folder
    out = tmp_path / "models" / "run"
    argv = ["--data", str(dataset_file), "--base", "scratch", "--size", "tiny", "--max-steps", "2",
            "--recall-sample", "0", "--encoder", "none", "--out", str(out), "--progress", "json"]  # fmt: skip
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"could not write the checkpoint to {out} ([Errno 28] No space left on device)" in err
    assert sorted(p.name for p in out.parent.iterdir()) == [".work-run"]  # no staging folder, no model
    monkeypatch.undo()  # space freed: the run finishes from its last Trainer checkpoint
    assert main([*argv, "--resume"]) == 0 and resolve_model_dir(out) == out.resolve()


@pytest.mark.slow
def test_qabot_eval_json_reports_metrics(trained_run):
    out, _ = trained_run
    result = CliRunner().invoke(app, ["eval", "--model", str(out), "--json", "--max-new-tokens", "12"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {"exact_match", "f1", "rougeL", "eval_loss", "n"} <= report.keys()
    assert report["n"] == read_manifest(out)["dataset"]["eval"]
    assert all(0 <= report[k] <= 1 for k in ("exact_match", "f1", "rougeL"))


@pytest.mark.slow
def test_qabot_eval_on_a_data_file_and_the_train_split(trained_run, tmp_path):
    out, _ = trained_run
    data = write_dataset(tmp_path / "three.json", n=3)
    result = CliRunner().invoke(app, ["eval", "--model", str(out), "--data", str(data), "--json",
                                      "--max-new-tokens", "4"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n"] == 3
    result = CliRunner().invoke(
        app, ["eval", "--model", str(out), "--split", "train", "--max-new-tokens", "4"]
    )
    assert result.exit_code == 0 and "f1" in result.output and "the model alone" not in result.output
    result = CliRunner().invoke(app, ["eval", "--model", str(out), "--max-new-tokens", "4"])
    assert "the model alone, on each question as written" in result.output  # held-out scores explained


def test_qabot_eval_missing_or_corrupt_model_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "No model" in result.output
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    (tmp_path / "broken" / "config.json").write_text("{}")
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"")
    result = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "broken")])
    assert result.exit_code == 2 and "error:" in result.output.lower()


@pytest.mark.parametrize("value", ["0", "-1", "1025", "100000"])
def test_qabot_eval_max_new_tokens_takes_the_settings_range(tmp_path, value):
    from bot.cli.train import MAX_NEW_TOKENS_LIMIT
    from bot.settings import Settings

    bound = {type(m).__name__: m for m in Settings.model_fields["max_new_tokens"].metadata}
    assert (bound["Ge"].ge, bound["Le"].le) == (1, MAX_NEW_TOKENS_LIMIT)
    result = CliRunner().invoke(
        app, ["eval", "--model", str(tmp_path / "nothing"), "--max-new-tokens", value]
    )
    assert result.exit_code == 2
    assert "Invalid value for '--max-new-tokens'" in result.output  # before the model is looked at


@pytest.mark.slow
def test_early_stopping_and_best_checkpoint_flags(dataset_file, tmp_path):
    events: list[dict] = []
    config = tiny_config(dataset_file, tmp_path / "es", max_steps=-1, epochs=3, lr=3e-2, early_stopping=1,
                         load_best=True, recall_sample=1)  # fmt: skip
    out = train(config, emit=events.append)
    evals = [e["eval_loss"] for e in events if e["event"] == "eval"]
    assert 1 <= len(evals) <= 3
    # the saved model is the best epoch's: its eval loss is the lowest one seen
    assert read_manifest(out)["metrics"]["eval_loss"] == pytest.approx(min(evals), rel=1e-3)


def test_an_evaluation_draws_no_second_progress_bar():
    """A run in a terminal is one bar: each evaluation opened a "0/2" bar under it (the README says one)."""
    from types import SimpleNamespace

    from training.callbacks import LossBar

    bar = LossBar()
    state = SimpleNamespace(is_world_process_zero=True)
    bar.on_prediction_step(None, state, None, eval_dataloader=[1, 2])
    assert bar.prediction_bar is None

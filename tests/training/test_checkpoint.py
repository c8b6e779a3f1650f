"""The checkpoint folder contract: atomic staging, the `current` pointer, clear errors."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from tests.tiny_checkpoint import tiny_model
from training.checkpoint import (
    CheckpointError,
    check_finite_weights,
    point_current,
    read_manifest,
    resolve_model_dir,
    staged_dir,
    write_json,
)


def _fake_checkpoint(folder):
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "manifest.json", {"base": "scratch"})
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def _plain_folder(folder, weights="model.safetensors"):
    """What save_pretrained writes, without qabot's manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    if weights:
        (folder / weights).write_bytes(b"")
    return folder


def test_staged_dir_renames_into_place_on_success(tmp_path):
    final = tmp_path / "models" / "run-1"
    with staged_dir(final) as tmp:
        (tmp / "weights.bin").write_text("x")
        assert not final.exists()
    assert (final / "weights.bin").read_text() == "x"
    assert [p.name for p in final.parent.iterdir()] == ["run-1"]


def test_staged_dir_leaves_nothing_behind_on_crash(tmp_path):
    final = tmp_path / "models" / "run-1"
    with pytest.raises(RuntimeError), staged_dir(final) as tmp:
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("killed mid-save")
    assert not final.exists()
    assert list(final.parent.iterdir()) == []


def test_staged_dir_keeps_old_folder_when_overwrite_fails(tmp_path):
    final = _fake_checkpoint(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt), staged_dir(final, overwrite=True):
        raise KeyboardInterrupt
    assert read_manifest(final) == {"base": "scratch"}


def test_staged_dir_refuses_to_clobber_without_overwrite(tmp_path):
    final = _fake_checkpoint(tmp_path / "run")
    with pytest.raises(CheckpointError, match="already exists"), staged_dir(final):
        pass


def test_point_current_moves_atomically(tmp_path):
    a = _fake_checkpoint(tmp_path / "a")
    b = _fake_checkpoint(tmp_path / "b")
    pointer = point_current(a)
    assert resolve_model_dir(pointer) == a.resolve()
    point_current(b)
    assert resolve_model_dir(pointer) == b.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "current"]


def test_point_current_over_a_real_folder_is_a_clear_error_and_leaves_no_temp_link(tmp_path):
    a = _fake_checkpoint(tmp_path / "a")
    (tmp_path / "current").mkdir()  # a folder where the pointer should be
    with pytest.raises(CheckpointError, match=r"cannot point .*/current at .*/a: .*a folder, not a symlink"):
        point_current(a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "current"]
    assert (tmp_path / "current").is_dir() and not (tmp_path / "current").is_symlink()


def test_resolve_model_dir_errors_name_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="qabot train"):
        resolve_model_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="manifest.json"):
        resolve_model_dir(tmp_path / "empty")


@pytest.mark.parametrize(
    "weights", ["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"]
)
def test_plain_save_pretrained_folder_is_a_model_folder(tmp_path, weights):
    folder = _plain_folder(tmp_path / "trl-sft", weights)
    assert resolve_model_dir(folder) == folder.resolve()


def test_config_without_weights_is_a_clear_error(tmp_path):
    folder = _plain_folder(tmp_path / "half", weights=None)
    with pytest.raises(CheckpointError, match="no weights"):
        resolve_model_dir(folder)
    (folder / "manifest.json").write_text("{}")
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        resolve_model_dir(folder)


def test_checkpoint_whose_weights_were_deleted_is_a_clear_error(tmp_path):
    folder = _fake_checkpoint(tmp_path / "run")
    (folder / "model.safetensors").unlink()  # the manifest no longer vouches for files deleted since
    with pytest.raises(CheckpointError, match=r"run has config.json but no weights .*missing. Retrain"):
        resolve_model_dir(folder)


def test_missing_manifest_gives_defaults_and_a_warning_when_optional(tmp_path, caplog):
    folder = _plain_folder(tmp_path / "plain")
    with pytest.raises(CheckpointError, match="missing"):
        read_manifest(folder)
    with caplog.at_level(logging.WARNING):
        assert read_manifest(folder, required=False) == {}
    assert "no manifest.json" in caplog.text and "default thresholds" in caplog.text


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    folder = _fake_checkpoint(tmp_path / "m")
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        read_manifest(folder)
    with pytest.raises(CheckpointError, match="corrupt"):
        read_manifest(folder, required=False)


def test_write_json_is_complete_json(tmp_path):
    write_json(tmp_path / "x.json", {"é": 1})
    assert json.loads((tmp_path / "x.json").read_text(encoding="utf-8")) == {"é": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_write_json_leaves_no_temp_file_when_it_fails(tmp_path, monkeypatch):
    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("training.checkpoint.os.replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_json(tmp_path / "x.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["null", "[]", '"x"', "3"])
def test_manifest_that_is_not_an_object_is_a_clear_error(tmp_path, text):
    folder = _fake_checkpoint(tmp_path / "m")
    (folder / "manifest.json").write_text(text)
    for required in (True, False):
        with pytest.raises(CheckpointError, match=r"m/manifest.json is corrupt .*not a JSON object"):
            read_manifest(folder, required=required)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_weights_holding_nan_or_inf_are_refused_naming_the_folder_and_parameter(tmp_path, bad):
    model = tiny_model()
    check_finite_weights(model, tmp_path)  # a healthy model passes
    with torch.no_grad():
        model.transformer.h[1].mlp.c_fc.weight[3, 5] = bad
    with pytest.raises(CheckpointError) as err:
        check_finite_weights(model, tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: model.safetensors holds NaN or infinite values, first in "
        "transformer.h.1.mlp.c_fc.weight; retrain or pick another model"
    )


def test_finite_weights_whose_sum_overflows_pass(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.transformer.wte.weight.fill_(3e38)  # every value finite; their sum is inf
    check_finite_weights(model, tmp_path)

"""The training command line: options typed from ``TrainConfig``'s annotations by ``HfArgumentParser``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from training.config import TrainConfig, parse_config


@dataclass
class _ProbeConfig(TrainConfig):
    tags: list[str] = field(default_factory=list, metadata={"help": "a list field", "action": "extend"})
    temperature: float | None = field(default=None, metadata={"help": "an optional float field"})


def test_list_and_optional_float_fields_parse_to_their_types():
    config = parse_config(
        ["--tags", "a", "--tags", "b", "c", "--temperature", "0.5"], config_class=_ProbeConfig
    )
    assert config.tags == ["a", "b", "c"]
    assert isinstance(config.temperature, float) and config.temperature == 0.5
    assert parse_config([], config_class=_ProbeConfig).temperature is None


def test_the_options_the_bot_and_launcher_pass_keep_their_meaning():
    config = parse_config(
        ["--data", "store.json", "--data", "base.json", "--base", "scratch", "--size", "tiny",
         "--out", "models/run", "--no-current", "--progress", "json", "--epochs", "3.0", "--max-steps", "5",
         "--holdout", "models/old/split.json", "--always-train", "store.json", "--no-question-variants",
         "--resume"]
    )  # fmt: skip
    assert config.data == [Path("store.json"), Path("base.json")]
    assert (config.base, config.size, config.out, config.progress) == (
        "scratch",
        "tiny",
        Path("models/run"),
        "json",
    )
    assert config.no_current and config.no_question_variants and config.resume and not config.load_best
    assert isinstance(config.epochs, float) and config.epochs == 3.0
    assert isinstance(config.max_steps, int) and config.max_steps == 5
    assert config.holdout == Path("models/old/split.json") and config.always_train == Path("store.json")


def test_no_options_give_the_dataclass_defaults():
    assert parse_config([]) == TrainConfig()


@pytest.mark.parametrize("argv", [["--bogus"], ["--size", "huge"], ["--epochs", "many"]])
def test_a_bad_option_exits_2_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(argv)
    assert exit_.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--epochs", "0"], "--epochs must be more than 0, not 0"),  # saved an untrained model as current
        (["--epochs", "-1"], "--epochs must be more than 0, not -1"),
        (["--epochs", "nan"], "--epochs must be more than 0, not nan"),
        (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),  # ZeroDivisionError
        (["--grad-accum", "0"], "--grad-accum must be at least 1, not 0"),
        (["--lr", "-1"], "--lr must be from 0 to 1, not -1"),
        (["--dropout", "2"], "--dropout must be from 0 to less than 1, not 2"),
        (["--eval-fraction", "1.5"], "--eval-fraction must be from 0 to less than 1, not 1.5"),
        (["--warmup-ratio", "5"], "--warmup-ratio must be from 0 to 1, not 5"),
        (["--max-length", "4"], "--max-length must be at least 16 tokens, not 4"),
        (["--save-steps", "-3"], "--save-steps must be at least 0, not -3"),
        (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1, not 0"),
        (["--max-steps", "0"], "--max-steps must be at least 1 (or -1: by epochs), not 0"),
        (["--epochs", "inf"], "--epochs must be more than 0, not inf"),  # OverflowError after loading
        (["--max-grad-norm", "inf"], "--max-grad-norm must be at least 0, not inf"),
        (["--seed", "-1"], "--seed must be from 0 to 4294967295, not -1"),
        (["--seed", "1" + "0" * 400], "--seed must be from 0 to 4294967295, not 1" + "0" * 400),
        (["--stale-work-hours", "nan"], "--stale-work-hours must be a number, not nan"),
    ],
)
def test_a_number_out_of_bounds_exits_2_naming_the_option(argv, error, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {error}")


def test_numbers_at_their_bounds_are_accepted():
    config = parse_config(["--epochs", "0.5", "--max-steps", "-1", "--dropout", "0", "--eval-fraction", "0"])
    assert (config.epochs, config.max_steps, config.dropout, config.eval_fraction) == (0.5, -1, 0.0, 0.0)


def test_parse_config_records_which_options_the_command_line_gave():
    from training.config import given_options

    config = parse_config(["--data", "a.json", "--size", "tiny", "--resume", "--no-current", "false"])
    assert given_options(config) == {"data", "size", "resume", "no_current"}
    assert given_options(parse_config([])) == set()
    assert given_options(TrainConfig()) is None  # built in code: unknown

"""Sources beyond text files: Parquet, Arrow, save_to_disk folders, hub names, compressed and binary files,
and text in another encoding; each goes through the same field mapping, validation and report."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import datasets
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from bot.cli import app
from training.data import CleanOptions, DatasetError, load_dataset_file, prepare_dataset, read_dataset
from training.data.tables import HUB_PREFIX

ROWS = [
    {"question": "What is offside?", "answer": "Being past the last defender.", "id": 1},
    {"question": "How long is a match?", "answer": "Two halves of 45 minutes.", "id": 2},
]
RECORDS = [{"question": r["question"], "answer": r["answer"]} for r in ROWS]
runner = CliRunner()


def _dataset(rows=ROWS) -> datasets.Dataset:
    return datasets.Dataset.from_list(rows)


def test_parquet_loads_by_its_magic_bytes_whatever_its_name(tmp_path):
    _dataset().to_parquet(str(tmp_path / "faq.parquet"))
    (tmp_path / "faq.csv").write_bytes((tmp_path / "faq.parquet").read_bytes())  # misnamed
    for name in ("faq.parquet", "faq.csv"):
        loaded = read_dataset(tmp_path / name)
        assert (loaded.format, loaded.records) == ("parquet/seed", RECORDS)


def test_arrow_ipc_file_and_stream_both_load(tmp_path):
    table = _dataset().data.table
    with pa.OSFile(str(tmp_path / "file.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    with pa.OSFile(str(tmp_path / "stream.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    for name in ("file.arrow", "stream.arrow"):
        loaded = read_dataset(tmp_path / name)
        assert (loaded.format, loaded.records) == ("arrow/seed", RECORDS)


def test_save_to_disk_folder_and_datasetdict_split(tmp_path):
    _dataset().save_to_disk(str(tmp_path / "single"))
    assert read_dataset(tmp_path / "single").format == "save_to_disk/seed"
    splits = datasets.DatasetDict({"train": _dataset(), "test": _dataset(ROWS[:1])})
    splits.save_to_disk(str(tmp_path / "dict"))
    assert load_dataset_file(tmp_path / "dict") == RECORDS
    assert load_dataset_file(tmp_path / "dict", split="test") == RECORDS[:1]
    with pytest.raises(DatasetError, match=r"no split 'validation' \(splits: train, test\); pass --split"):
        load_dataset_file(tmp_path / "dict", split="validation")
    with pytest.raises(DatasetError, match="a folder, not a dataset"):
        load_dataset_file(tmp_path)


def test_a_damaged_save_to_disk_folder_is_an_error_naming_it(tmp_path):
    for name in ("shard", "state", "missing"):
        _dataset().save_to_disk(str(tmp_path / name))
    shard = next((tmp_path / "shard").glob("*.arrow"))
    shard.write_bytes(shard.read_bytes()[:100])
    (tmp_path / "state" / "state.json").write_text("{'bad")
    next((tmp_path / "missing").glob("*.arrow")).unlink()
    for name in ("shard", "state", "missing"):
        with pytest.raises(DatasetError) as info:
            load_dataset_file(tmp_path / name)
        assert str(info.value).startswith(f"{tmp_path / name}: damaged save_to_disk folder (")


def test_tables_share_field_mapping_shapes_and_validation(tmp_path):
    rows = [{"prompt_text": "Who won in 2014?", "response": "Germany."}]
    _dataset(rows).to_parquet(str(tmp_path / "custom.parquet"))
    records = load_dataset_file(
        tmp_path / "custom.parquet", question_field="prompt_text", answer_field="response"
    )
    assert records == [{"question": "Who won in 2014?", "answer": "Germany."}]
    chat = [
        {"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "Line 1\nLine 2"}]}
    ]
    _dataset(chat).save_to_disk(str(tmp_path / "chat"))
    loaded = read_dataset(tmp_path / "chat")
    assert (loaded.format, loaded.records) == (
        "save_to_disk/messages",
        [{"question": "Q?", "answer": "Line 1\nLine 2"}],
    )
    _dataset([{"question": "Q?", "answer": None}]).to_parquet(str(tmp_path / "null.parquet"))
    with pytest.raises(DatasetError, match=r"record 1, field 'answer': not a string \(got null\)"):
        load_dataset_file(tmp_path / "null.parquet")


def test_hub_name_fails_fast_with_a_clear_message_offline():
    """No network here: the probe answers within seconds instead of datasets' long retries. With network,
    the name does not exist, which is just as clear an error."""
    start = time.monotonic()
    with pytest.raises(DatasetError) as info:
        load_dataset_file(f"{HUB_PREFIX}qabot-tests/no-such-dataset")
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert message.startswith(
        "hf:qabot-tests/no-such-dataset: cannot load the hub dataset 'qabot-tests/no-such-dataset'"
    )


def test_hub_unreachable_message_says_what_to_do_instead(monkeypatch):
    monkeypatch.setattr("training.model._hub_reachable", lambda *a, **k: False)
    with pytest.raises(DatasetError, match="hub is unreachable.*save_to_disk.*--data"):
        load_dataset_file("hf:owner/name")
    with pytest.raises(DatasetError, match="not a hub dataset name"):
        load_dataset_file("hf:a/b/c")


def test_compressed_text_is_read_and_other_binaries_are_named(tmp_path):
    (tmp_path / "faq.jsonl.gz").write_bytes(gzip.compress("\n".join(map(json.dumps, RECORDS)).encode()))
    assert read_dataset(tmp_path / "faq.jsonl.gz").format == "jsonl/seed"
    (tmp_path / "sheet.xlsx").write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(DatasetError, match="zip archive .*export the sheet as CSV"):
        load_dataset_file(tmp_path / "sheet.xlsx")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1" + bytes(40))
    with pytest.raises(DatasetError, match="unreadable parquet file") as info:
        load_dataset_file(tmp_path / "broken.parquet")
    assert "UTF-8" not in str(info.value)


LATIN = "question,answer\nWho is Pelé?,A Brazilian forward – the best.\n"


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_encoding_option_reads_windows_and_latin_files(tmp_path, encoding):
    path = tmp_path / "excel.csv"
    text = LATIN if encoding == "cp1252" else LATIN.replace("–", "-")
    path.write_bytes(text.encode(encoding))
    with pytest.raises(DatasetError, match="not valid UTF-8.*--encoding"):
        load_dataset_file(path)  # without it: the clear error, kept
    assert load_dataset_file(path, encoding=encoding)[0]["question"] == "Who is Pelé?"
    assert load_dataset_file(path, encoding=encoding)[0]["answer"].startswith("A Brazilian forward")
    with pytest.raises(DatasetError, match="unknown --encoding 'klingon'"):
        load_dataset_file(path, encoding="klingon")
    with pytest.raises(DatasetError, match="--encoding 'base64' is not a text encoding"):
        load_dataset_file(path, encoding="base64")


def test_encoding_and_split_reach_the_cli_and_training_config(tmp_path):
    from training.config import parse_config

    path = tmp_path / "excel.csv"
    path.write_bytes(LATIN.encode("cp1252"))
    result = runner.invoke(app, ["data", "check", str(path), "--json", "--encoding", "cp1252"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records_in"] == 1
    config = parse_config(["--data", str(path), "--encoding", "cp1252", "--split", "test"])
    assert (config.encoding, config.split) == ("cp1252", "test")
    cleaned = prepare_dataset([path], CleanOptions(token_stats=False), encoding=config.encoding)
    assert cleaned.records[0]["question"] == "Who is Pelé?"


def test_train_passes_encoding_to_the_data_pipeline(tmp_path, monkeypatch):
    import training.train as train_module
    from training.config import TrainConfig

    seen = {}

    def fake_prepare(paths, options=None, **kwargs):
        seen.update(kwargs)
        raise DatasetError(None, "stop here")

    monkeypatch.setattr(train_module, "prepare_dataset", fake_prepare)
    with pytest.raises(DatasetError):
        train_module._load_data(TrainConfig(data=[Path("x.csv")], encoding="cp1252", split="test"))
    assert seen == {"encoding": "cp1252", "split": "test"}

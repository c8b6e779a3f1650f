"""Parquet, Arrow and save_to_disk input within the limits (issue 26, section 3): refused from the metadata
where it tells (rows, uncompressed size), and a batch's text measured before it becomes Python objects,
naming the record and field. The limits are made small here; the reviewer's files were a 241 KB Parquet of
30 million dictionary-encoded rows (MemoryError after 90 s) and a 1 KB one holding 150 cells of 10 MB."""

from __future__ import annotations

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.training.memory_support import peak_of
from training.data import DatasetError, load_dataset_file, read_dataset

BIG = "a" * 100_000


def _limit(monkeypatch, name: str, value: int) -> None:
    monkeypatch.setattr(f"training.data.tables.{name}", value)


def _arrow_stream(path, table: pa.Table):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def _arrow_file(path, table: pa.Table):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def test_a_parquet_file_past_max_records_is_refused_from_its_metadata(tmp_path, monkeypatch):
    _limit(monkeypatch, "MAX_RECORDS", 100)
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"question": ["Q?"] * 1000, "answer": ["A."] * 1000}), path)

    def no_reading(*args, **kwargs):
        raise AssertionError("the rows were read")

    monkeypatch.setattr(pq, "ParquetFile", no_reading)
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(info.value) == (
        f"{path}: more than the 100-record limit for one dataset file (MAX_RECORDS); "
        "split it into smaller files"
    )


def test_a_parquet_file_past_the_byte_limit_uncompressed_is_refused_from_its_metadata(tmp_path, monkeypatch):
    _limit(monkeypatch, "MAX_DATASET_BYTES", 100_000)
    path = tmp_path / "plain.parquet"  # 2 MB of text, compressed to a few KB
    table = pa.table({"question": [f"Q{i}?" for i in range(20)], "answer": [BIG] * 20})
    pq.write_table(table, path, use_dictionary=False, compression="zstd")
    assert path.stat().st_size < 100_000
    with pytest.raises(
        DatasetError, match=r"plain.parquet: 1.9\d MiB uncompressed, over the 97.7 KiB limit for one"
    ):
        read_dataset(path)


def test_a_long_parquet_cell_is_refused_with_its_record_and_field_before_it_is_decoded(tmp_path, monkeypatch):
    _limit(monkeypatch, "MAX_RECORD_CHARS", 50_000)
    path = tmp_path / "bigcell.parquet"  # one 100,000-character text, dictionary-encoded in 150 rows
    table = pa.table({"question": ["Q?"] * 150, "answer": pa.array([BIG] * 150, type=pa.large_string())})
    pq.write_table(table, path)
    error, peak = peak_of(lambda: read_dataset(path))
    assert isinstance(error, DatasetError)
    assert str(error).startswith(f"{path}: record 1, field 'answer': record too long: 100,002 bytes of text")
    assert peak < 4 << 20  # as Python objects, the batch's 150 texts are 15 MB


def test_text_past_the_byte_limit_in_a_small_dictionary_encoded_file_is_refused(tmp_path, monkeypatch):
    _limit(monkeypatch, "MAX_DATASET_BYTES", 1_000_000)
    path = tmp_path / "repeated.parquet"  # 2,000 rows sharing one 1,000-character answer: 2 MB of text
    pq.write_table(pa.table({"question": ["Q?"] * 2000, "answer": ["b" * 1000] * 2000}), path)
    with pytest.raises(
        DatasetError, match=r"repeated.parquet: more than 977 KiB of text, over the 977 KiB limit"
    ):
        read_dataset(path)


def test_nested_conversations_are_measured_too(tmp_path, monkeypatch):
    _limit(monkeypatch, "MAX_RECORD_CHARS", 50_000)
    turns = [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]
    long_turns = [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": BIG}]
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.table({"conversations": [turns, turns, long_turns]}), path)
    with pytest.raises(
        DatasetError, match=r"record 3, field 'conversations': record too long: 100,\d+ bytes"
    ):
        read_dataset(path)
    assert (
        len(load_dataset_file(_arrow_stream(tmp_path / "ok.arrow", pa.table({"conversations": [turns]}))))
        == 1
    )


@pytest.mark.parametrize("write", [_arrow_stream, _arrow_file], ids=["stream", "file"])
def test_arrow_ipc_rows_and_cells_are_bounded(tmp_path, monkeypatch, write):
    _limit(monkeypatch, "MAX_RECORD_CHARS", 50_000)
    _limit(monkeypatch, "MAX_RECORDS", 10)
    answers = pa.DictionaryArray.from_arrays(pa.array([0, 0, 1], type=pa.int32()), pa.array(["A.", BIG]))
    big = write(tmp_path / "big.arrow", pa.table({"question": ["Q1?", "Q2?", "Q3?"], "answer": answers}))
    with pytest.raises(
        DatasetError, match=r"big.arrow: record 3, field 'answer': record too long: 100,003 bytes"
    ):
        read_dataset(big)
    many = write(tmp_path / "many.arrow", pa.table({"question": ["Q?"] * 11, "answer": ["A."] * 11}))
    with pytest.raises(DatasetError, match=r"many.arrow: more than the 10-record limit .*\(MAX_RECORDS\)"):
        read_dataset(many)


def test_save_to_disk_rows_and_cells_are_bounded(tmp_path, monkeypatch):
    _limit(monkeypatch, "MAX_RECORD_CHARS", 50_000)
    _limit(monkeypatch, "MAX_RECORDS", 10)
    rows = [{"question": "Q?", "answer": "A."}, {"question": "Long?", "answer": BIG}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "big"))
    with pytest.raises(DatasetError, match=r"big: record 2, field 'answer': record too long: 100,005 bytes"):
        read_dataset(tmp_path / "big")
    datasets.Dataset.from_list(rows[:1] * 11).save_to_disk(str(tmp_path / "many"))
    with pytest.raises(DatasetError, match=r"many: more than the 10-record limit .*\(MAX_RECORDS\)"):
        read_dataset(tmp_path / "many")


def test_tables_within_the_limits_load_as_before(tmp_path):
    """Nulls, numbers, lists, maps and structs beside the text are measured without a fuss."""
    table = pa.table(
        {
            "question": ["Q1?", "Q2?"],
            "answer": pa.array(["A1.", "A2."]).dictionary_encode(),
            "score": [1, None],
            "tags": [["a", None], None],
            "meta": [{"k": "v", "n": 1}, None],
            "attrs": pa.array([[("k", "v")], None], type=pa.map_(pa.string(), pa.string())),
            "pair": pa.array([["x", "y"], ["z", None]], type=pa.list_(pa.string(), 2)),
        }
    )
    expected = [{"question": "Q1?", "answer": "A1."}, {"question": "Q2?", "answer": "A2."}]
    pq.write_table(table, tmp_path / "ok.parquet")
    assert load_dataset_file(tmp_path / "ok.parquet") == expected
    assert load_dataset_file(_arrow_file(tmp_path / "ok.arrow", table.slice(1))) == expected[1:]

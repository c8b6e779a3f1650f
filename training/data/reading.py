"""A dataset file's bytes and text, within ``limits``: a text file over ``MAX_DATASET_BYTES`` is refused
before it is read, a gzip/bz2/xz file is decompressed as a stream and refused once it passes that size (a
4 MB file can expand to 4 GB; one compressed twice is refused), and text is UTF-8 (BOM allowed), UTF-16
with a BOM, or a named encoding.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import os
import zlib
from pathlib import Path

from training.data.errors import DatasetError
from training.data.limits import MAX_DATASET_BYTES, size
from training.data.tables import COMPRESSED, MAGIC_BYTES, TABLE_SYNTAXES, binary_kind

_OPEN = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}
_CHUNK = 1 << 20
_NUL_SHARE = 0.25  # of a file's first KB; UTF-16 text in a Latin script has a NUL in every other byte
_SPLIT_HINT = "split it into smaller files"


def read_source(path: Path) -> tuple[str | None, bytes]:
    """The file's kind (``tables.binary_kind`` of its first bytes, after decompression: ``parquet``,
    ``arrow``, or None for text) and its bytes, decompressed; a Parquet/Arrow file's bytes are not read
    (its reader maps the file), so they are ``b""``. Raises ``DatasetError``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(MAGIC_BYTES)
            kind = binary_kind(path, head)
            if kind in TABLE_SYNTAXES:
                return kind, b""
            if kind not in COMPRESSED:
                total = os.fstat(fh.fileno()).st_size
                if total > MAX_DATASET_BYTES:
                    problem = f"{size(total)}, over the {_limit()}; {_SPLIT_HINT}"
                    raise DatasetError(path, problem)
                return kind, head + fh.read()
    except OSError as exc:
        raise DatasetError(path, f"cannot read the file: {exc.strerror or exc}") from None
    data = _decompressed(path, kind)
    inner = binary_kind(path, data[:MAGIC_BYTES])
    if inner in COMPRESSED:
        problem = f"compressed twice ({inner} inside {kind}): decompress it once and pass the inner file"
        raise DatasetError(path, problem)
    return inner, data


def _limit() -> str:
    return f"{size(MAX_DATASET_BYTES)} limit for one dataset file (MAX_DATASET_BYTES)"


def _decompressed(path: Path, kind: str) -> bytes:
    """The decompressed bytes of a ``kind`` file, read a chunk at a time and refused past the limit."""
    data = bytearray()
    try:
        with _OPEN[kind](path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                data += chunk
                if len(data) > MAX_DATASET_BYTES:
                    problem = f"decompresses to more than the {_limit()}; {_SPLIT_HINT}"
                    raise DatasetError(path, problem)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise DatasetError(path, f"unreadable {kind} file: {exc}") from None
    return bytes(data)


def decode(path: Path, data: bytes, encoding: str | None = None) -> str:
    """The file's text: ``encoding`` when given, else UTF-8 (BOM allowed) or UTF-16 with a BOM; an
    undecodable byte is an error that names its offset and line."""
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            problem = f"unknown --encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)"
            raise DatasetError(path, problem) from None
        try:
            "text".encode(codec)  # not b"".decode(codec): empty input skips the codec check
        except LookupError:  # a bytes-to-bytes codec such as base64 or zlib
            problem = f"--encoding {encoding!r} is not a text encoding (e.g. utf-8, cp1252, latin-1)"
            raise DatasetError(path, problem) from None
        skip = len(codecs.BOM_UTF8) if codec == "utf-8" and data.startswith(codecs.BOM_UTF8) else 0
        return _decoded(path, data, codec, skip, f"is not valid {encoding}")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decoded(path, data, "utf-16", 0, "is not valid UTF-16")
    if utf16 := _bomless_utf16(data):
        problem = "unreadable encoding: many NUL bytes, as in UTF-16 without a byte-order mark"
        raise DatasetError(path, f"{problem}; pass --encoding {utf16}")
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    return _decoded(
        path,
        data,
        "utf-8",
        skip,
        "is not valid UTF-8; save the file as UTF-8, or name its encoding with --encoding "
        "(cp1252 for Windows/Excel files, latin-1)",
    )


def _bomless_utf16(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when the first KB has many NUL bytes, as UTF-16 text without a BOM has (it
    would decode as UTF-8, NUL being valid there, and fail later with a misleading error); else None."""
    head = data[:1024]
    if not head or head.count(0) < len(head) * _NUL_SHARE:
        return None
    return "utf-16-le" if head[1::2].count(0) > head[::2].count(0) else "utf-16-be"


def _decoded(path: Path, data: bytes, encoding: str, skip: int, problem: str) -> str:
    try:
        return data[skip:].decode(encoding)
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        line = data.count(b"\n", 0, offset) + 1
        raise DatasetError(
            path, f"unreadable encoding: byte 0x{data[offset]:02x} {problem}", byte_offset=offset, line=line
        ) from None

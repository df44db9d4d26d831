"""Read CSV, JSON Lines and Parquet files (gzip accepted) as a stream of raw chunks.

A chunk is an Arrow table of the source's own columns plus the physical line number of each row
(the row number for Parquet) and the records that could not be parsed at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from longtail.errors import UnreadableInput
from longtail.ingest.blocks import (
    PARQUET_MAGIC,
    Block,
    Problem,
    iter_blocks,
    open_binary,
    pushback,
    read_header,
)

PARQUET_BATCH = 262_144


@dataclass
class Chunk:
    table: pa.Table
    lines: npt.NDArray[np.int64]
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Source:
    """An opened input file: its format, its columns (when known up front) and its chunks."""

    path: Path
    format: str
    columns: list[str] | None
    chunks: Iterator[Chunk]
    progress: Callable[[], float] = lambda: 0.0
    """Fraction of the file consumed so far (0..1), for progress bars."""


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, fmt in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"),
                        (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix):
            return fmt
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if head == PARQUET_MAGIC:
        return "parquet"
    raise UnreadableInput(f"{path}: unknown file type; use .csv, .jsonl or .parquet (optionally .gz)")


def open_source(path: Path) -> Source:
    if not path.is_file():
        raise UnreadableInput(f"{path}: no such file")
    fmt = detect_format(path)
    if fmt == "parquet":
        return _open_parquet(path)
    if fmt == "jsonl":
        stream, raw = open_binary(path)
        return Source(path, fmt, None, _jsonl_chunks(stream), _fraction(raw, path))
    return _open_csv(path)


def _fraction(raw: BinaryIO, path: Path) -> Callable[[], float]:
    size = max(path.stat().st_size, 1)

    def fraction() -> float:
        return 1.0 if raw.closed else min(raw.tell() / size, 1.0)

    return fraction


# ---------------------------------------------------------------- CSV


def _decode_header(raw: bytes, path: Path) -> list[str]:
    if b"\x00" in raw:
        raise UnreadableInput(f"{path}: binary data in the header line; is this a CSV file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(f"{path}: not UTF-8 text (invalid byte at offset {exc.start} of the header)") from exc
    try:
        options = pacsv.ReadOptions(autogenerate_column_names=True)
        table = pacsv.read_csv(pa.py_buffer(text.encode() + b"\n"), read_options=options)
    except pa.ArrowInvalid as exc:
        raise UnreadableInput(f"{path}: cannot parse the header line as CSV ({exc})") from exc
    names = [str(v[0].as_py()).strip() if v[0].is_valid else "" for v in table.columns]
    if any(not n for n in names):
        raise UnreadableInput(f"{path}: the header has an empty column name: {text[:200]!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UnreadableInput(f"{path}: duplicate column names in the header: {', '.join(dupes)}")
    return names


def _open_csv(path: Path) -> Source:
    decoded, raw = open_binary(path)
    stream = pushback(decoded)
    try:
        header, any_data = read_header(stream)
    except UnreadableInput as exc:
        stream.close()
        raise UnreadableInput(f"{path}: {exc}") from exc
    if not any_data:
        stream.close()
        raise UnreadableInput(f"{path}: the file is empty (a CSV needs a header row)")
    columns = _decode_header(header, path)

    def chunks() -> Iterator[Chunk]:
        with stream:
            for block in iter_blocks(stream, first_line=2, quote_aware=True):
                yield _parse_csv_block(block, columns)

    return Source(path, "csv", columns, chunks(), _fraction(raw, path))


def _strip_bad_utf8(block: Block) -> tuple[bytes, list[Problem]]:
    """Blank out records with invalid UTF-8, reporting each by line.

    The record's bytes are removed but its line end stays, so every later row keeps its line number;
    the parser skips the blank line.
    """
    data = block.data
    problems: list[Problem] = []
    while True:
        try:
            data.decode("utf-8")
            return data, problems
        except UnicodeDecodeError as exc:
            start = data.rfind(b"\n", 0, exc.start) + 1
            end = data.find(b"\n", exc.start)
            end = len(data) if end < 0 else end
            line = block.first_line + data.count(b"\n", 0, start)
            problems.append(Problem(line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})"))
            data = data[:start] + data[end:]


def _read_csv_block(data: bytes, columns: list[str], threads: bool) -> tuple[pa.Table, list[tuple[int, str]]]:
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((int(row.number) if row.number is not None else -1, str(row.text)))
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(
            column_names=columns, block_size=max(len(data) + 1, 1 << 20), use_threads=threads
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    )
    return table, invalid


def _parse_csv_block(block: Block, columns: list[str]) -> Chunk:
    data, utf8_problems = _strip_bad_utf8(block)
    if not data:
        empty = pa.table({c: pa.array([], pa.string()) for c in columns})
        return Chunk(empty, np.zeros(0, dtype=np.int64), block.problems + utf8_problems)
    table, invalid = _read_csv_block(data, columns, threads=True)
    if any(number < 0 for number, _ in invalid):
        # The threaded parser does not number bad rows; parse this block again serially to
        # learn their exact lines (only blocks with malformed rows pay for this).
        table, invalid = _read_csv_block(data, columns, threads=False)
    stripped = Block(data, block.first_line)
    lines, problems = _csv_lines(stripped, table, invalid)
    table, lines = _drop_blank_rows(table, lines)
    return Chunk(table, lines, block.problems + utf8_problems + problems)


def _drop_blank_rows(table: pa.Table, lines: npt.NDArray[np.int64]) -> tuple[pa.Table, npt.NDArray[np.int64]]:
    """Rows with no value at all (blank lines, or only separators) carry no data: skip them."""
    if table.num_rows == 0 or table.num_columns == 0:
        return table, lines
    blank = pc.is_null(table.column(0))
    for col in table.columns[1:]:
        blank = pc.and_(blank, pc.is_null(col))
    if not pc.any(blank).as_py():
        return table, lines
    keep = pc.invert(blank)
    return table.filter(keep), lines[np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)]


def _csv_lines(block: Block, table: pa.Table, invalid: list[tuple[int, str]]
               ) -> tuple[npt.NDArray[np.int64], list[Problem]]:
    """Physical line of each parsed row and of each unparseable record.

    Records are numbered by the parser; a record spans 1 + (newlines inside its values) lines.
    """
    n_valid = table.num_rows
    n_total = n_valid + len(invalid)
    newlines = np.zeros(n_total, dtype=np.int64)
    is_invalid = np.zeros(n_total, dtype=bool)
    bad_numbers = [num - 1 for num, _ in invalid]
    if bad_numbers and min(bad_numbers) >= 0 and max(bad_numbers) < n_total:
        is_invalid[bad_numbers] = True
        newlines[bad_numbers] = [text.count("\n") for _, text in invalid]
    else:
        is_invalid[n_valid:] = True  # numbering unknown: put them last, lines stay approximate
    embedded = np.zeros(n_valid, dtype=np.int64)
    for col in table.columns:
        counts = pc.count_substring(col, "\n").fill_null(0)
        embedded += counts.to_numpy(zero_copy_only=False).astype(np.int64)
    newlines[~is_invalid] = embedded
    starts = block.first_line + np.arange(n_total, dtype=np.int64) + np.concatenate(([0], np.cumsum(newlines)[:-1]))
    problems = []
    for start, (_, text) in zip(starts[is_invalid].tolist(), invalid, strict=True):
        if text.strip():
            problems.append(Problem(int(start), "wrong number of fields for the header", text[:500]))
    return starts[~is_invalid], problems


# ---------------------------------------------------------------- JSON Lines


def _jsonl_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _jsonl_chunks(decoded: BinaryIO) -> Iterator[Chunk]:
    with pushback(decoded) as stream:
        for block in iter_blocks(stream, first_line=1, quote_aware=False, block_size=4 << 20):
            yield _parse_jsonl_block(block)


def _parse_jsonl_block(block: Block) -> Chunk:
    problems = list(block.problems)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for offset, record in enumerate(block.data.split(b"\n")):
        line = block.first_line + offset
        raw = record.strip()
        if not raw:
            continue
        try:
            obj = json.loads(raw)
        except UnicodeDecodeError:
            problems.append(Problem(line, "not valid UTF-8"))
            continue
        except json.JSONDecodeError as exc:
            shown = raw[:500].decode("utf-8", "replace")
            problems.append(Problem(line, f"invalid JSON: {exc.msg} at column {exc.colno}", shown))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(line, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        if not obj:
            problems.append(Problem(line, "empty JSON object"))
            continue
        rows.append(obj)
        lines.append(line)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(str(k) for k in row))
    table = pa.table({n: pa.array([_jsonl_value(r.get(n)) for r in rows], pa.string()) for n in names})
    return Chunk(table, np.asarray(lines, dtype=np.int64), problems)


# ---------------------------------------------------------------- Parquet


def _open_parquet(path: Path) -> Source:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableInput(f"{path}: not a readable Parquet file ({exc})") from exc
    columns = list(pf.schema_arrow.names)
    total = max(pf.metadata.num_rows, 1)
    done = [0]

    def chunks() -> Iterator[Chunk]:
        row = 1
        try:
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
                table = pa.Table.from_batches([batch])
                yield Chunk(table, np.arange(row, row + table.num_rows, dtype=np.int64))
                row += table.num_rows
                done[0] = row - 1
        except (pa.ArrowInvalid, OSError) as exc:
            raise UnreadableInput(f"{path}: Parquet data is corrupt after row {row - 1} ({exc})") from exc
        finally:
            pf.close()

    return Source(path, "parquet", columns, chunks(), lambda: done[0] / total)

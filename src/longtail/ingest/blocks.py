"""Split a byte stream into blocks of whole records, with the line number each block starts at.

Why not hand the file straight to a parser: one oversized or truncated record must not stop the
load, and every rejected row needs its physical line number. Splitting ourselves (C-speed byte
scans, never a Python loop per line) lets us skip a 50 MB line, report a truncated gzip and keep
exact line numbers, while pyarrow still parses each block at full speed.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from longtail.errors import UnreadableInput

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Problem:
    """A record that could not be read at all (it never became a row)."""

    line: int
    reason: str
    raw: str = ""


@dataclass
class Block:
    data: bytes
    first_line: int
    problems: list[Problem] = field(default_factory=list)


def open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """Open a file for reading, transparently un-gzipping it when it starts with the gzip magic.

    Returns the decoded stream and the raw file (whose position drives progress bars)."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot open ({exc.strerror or exc})") from exc
    head = raw.read(2)
    raw.seek(0)
    if head == GZIP_MAGIC:
        decoded = gzip.GzipFile(fileobj=raw, mode="rb")
        decoded.myfileobj = raw  # type: ignore[assignment]  # so closing the gzip stream closes the file too, as gzip.open does
        return decoded, raw  # type: ignore[return-value]
    return raw, raw


def _record_cut(buf: bytes, quote_aware: bool) -> int:
    """Index just past the last newline that ends a record, or -1 when no record is complete."""
    idx = buf.rfind(b"\n")
    if not quote_aware:
        return idx + 1 if idx >= 0 else -1
    while idx >= 0:
        # A newline ends a record iff it sits outside quotes: an even number of quote characters
        # before it (RFC 4180 escapes a quote by doubling it, which keeps the parity).
        if buf.count(b'"', 0, idx) % 2 == 0:
            return idx + 1
        idx = buf.rfind(b"\n", 0, idx)
    return -1


def _read(stream: BinaryIO, size: int) -> tuple[bytes, bool]:
    """Read up to `size` bytes; the flag says the stream ended early (truncated gzip)."""
    try:
        return stream.read(size), False
    except EOFError:
        return b"", True
    except (OSError, zlib.error) as exc:
        raise UnreadableInput(f"corrupt compressed data ({exc})") from exc


def iter_blocks(
    stream: BinaryIO,
    *,
    first_line: int,
    block_size: int = 8 << 20,
    max_record: int = 16 << 20,
    quote_aware: bool = True,
) -> Iterator[Block]:
    """Yield blocks of complete records. Records longer than `max_record` bytes are skipped and
    reported as problems; a truncated compressed stream is reported on its last line."""
    buf = b""
    line = first_line
    pending: list[Problem] = []
    while True:
        data, truncated = _read(stream, block_size)
        if data:
            buf += data
            cut = _record_cut(buf, quote_aware)
            if cut > 0:
                chunk, buf = buf[:cut], buf[cut:]
                yield Block(chunk, line, pending)
                pending = []
                line += chunk.count(b"\n")
            elif len(buf) > max_record:
                skipped, ended = _skip_to_newline(stream, buf, block_size)
                pending.append(
                    Problem(line, f"record longer than {max_record >> 20} MiB ({skipped:,} bytes); skipped")
                )
                buf = b""
                line += 1
                if ended:
                    break
            continue
        if truncated:
            if buf:
                pending.append(Problem(line, "incomplete last record: the compressed stream ends early"))
                buf = b""
            pending.append(Problem(line, "file truncated: compressed stream ended before its end marker"))
        break
    if buf or pending:
        yield Block(buf, line, pending)


def _skip_to_newline(stream: BinaryIO, buf: bytes, block_size: int) -> tuple[int, bool]:
    """Discard an oversized record up to and including the next raw newline.

    The remainder is consumed block by block, never held whole, so a hostile single line of any
    size costs bounded memory. Bytes after that newline go back to the stream. Returns the number
    of bytes skipped and whether the stream ended.
    """
    skipped = len(buf)
    while True:
        data, _ = _read(stream, block_size)
        if not data:
            return skipped, True
        idx = data.find(b"\n")
        if idx < 0:
            skipped += len(data)
            continue
        skipped += idx + 1
        _unread(stream, data[idx + 1 :])
        return skipped, False


def _unread(stream: BinaryIO, rest: bytes) -> None:
    if not rest:
        return
    if isinstance(stream, _Pushback):
        stream.push(rest)
        return
    raise TypeError("iter_blocks needs a stream made by pushback()")


class _Pushback(io.RawIOBase):
    """A read-only stream that can push bytes back (used to resume after an oversized record)."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._front = b""

    def push(self, data: bytes) -> None:
        self._front = data + self._front

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._front:
            out, self._front = self._front[:size], self._front[size:]
            return out
        return self._inner.read(size)

    def close(self) -> None:
        self._inner.close()
        super().close()


def pushback(stream: BinaryIO) -> BinaryIO:
    return _Pushback(stream)  # type: ignore[return-value]


def read_header(stream: BinaryIO, limit: int = 1 << 20) -> tuple[bytes, bool]:
    """Read the first line (header) of a text file; returns it without line end, and whether
    the file had anything at all."""
    first, _ = _read(stream, 4)
    if first.startswith(BOM[:len(first)]) and first[:3] == BOM:
        first = first[3:]
    buf = first
    while b"\n" not in buf:
        data, _ = _read(stream, 64 << 10)
        if not data:
            break
        buf += data
        if len(buf) > limit:
            raise UnreadableInput(f"the header line is longer than {limit >> 20} MiB; is this a CSV file?")
    idx = buf.find(b"\n")
    if idx < 0:
        return buf.rstrip(b"\r"), bool(buf)
    header, rest = buf[:idx], buf[idx + 1 :]
    if isinstance(stream, _Pushback):
        stream.push(rest)
    return header.rstrip(b"\r"), True

"""Splitting byte streams into whole records: quotes, oversized records, truncated gzip."""

from __future__ import annotations

import gzip
import io

from hypothesis import given
from hypothesis import strategies as st

from longtail.ingest.blocks import iter_blocks, pushback


def blocks(data: bytes, **kwargs: int) -> list[tuple[bytes, int, list[str]]]:
    stream = pushback(io.BytesIO(data))  # type: ignore[arg-type]
    return [(b.data, b.first_line, [p.reason for p in b.problems]) for b in iter_blocks(stream, first_line=1, **kwargs)]


def test_a_quoted_newline_never_splits_a_record() -> None:
    data = b'a,"x\ny"\nb,2\n' * 50
    out = blocks(data, block_size=7)
    assert b"".join(d for d, _, _ in out) == data
    for chunk, _, _ in out:
        assert chunk.count(b'"') % 2 == 0 and chunk.endswith(b"\n")


@given(st.lists(st.tuples(st.text(alphabet="ab\n,", max_size=8), st.integers(0, 99)), max_size=40),
       st.integers(1, 64))
def test_blocks_reassemble_the_input_and_count_lines(rows: list[tuple[str, int]], size: int) -> None:
    data = "".join(f'"{t.replace(chr(34), "")}",{n}\n' for t, n in rows).encode()
    out = blocks(data, block_size=size)
    assert b"".join(d for d, _, _ in out) == data
    line = 1
    for chunk, first, problems in out:
        assert first == line and not problems
        line += chunk.count(b"\n")


def test_an_oversized_record_is_skipped_and_reported() -> None:
    data = b"ok1\n" + b"x" * 5000 + b"\nok2\n"
    out = blocks(data, block_size=256, max_record=1024)
    text = b"".join(d for d, _, _ in out)
    assert text == b"ok1\nok2\n"
    reasons = [r for _, _, problems in out for r in problems]
    assert len(reasons) == 1 and "longer than" in reasons[0]
    last = [b for b in out if b[0].startswith(b"ok2")]
    assert last[0][1] == 3  # ok2 keeps its real line number


def test_a_truncated_gzip_stream_is_reported() -> None:
    payload = gzip.compress(b"".join(b"row%d\n" % i for i in range(20000)))
    stream = pushback(gzip.GzipFile(fileobj=io.BytesIO(payload[: len(payload) // 2])))  # type: ignore[arg-type]
    out = list(iter_blocks(stream, first_line=1, block_size=4096))
    reasons = [p.reason for b in out for p in b.problems]
    assert any("truncated" in r for r in reasons)
    complete = b"".join(b.data for b in out)
    assert complete.endswith(b"\n") and complete.startswith(b"row0\n")

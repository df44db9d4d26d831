"""`account_rows`: one account's rows from account-sorted Parquet files, through footers parsed once and cached.

The reference is pyarrow filtering the whole table; the cache must follow files rewritten in place (a re-scored
health day, a compaction that reuses a name) and files whose footers carry no statistics."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longtail.warehouse import account_reads
from longtail.warehouse.account_reads import account_rows


def _table(accounts: list[str], tag: str) -> pa.Table:
    ids = sorted(accounts)
    return pa.table({"account_id": pa.array(ids, pa.string()), "n": pa.array(range(len(ids)), pa.int64()),
                     "tag": pa.array([tag] * len(ids), pa.string())})


def _write(path: Path, table: pa.Table, *, row_group_size: int = 3, statistics: bool = True) -> Path:
    pq.write_table(table, path, row_group_size=row_group_size, write_statistics=statistics)
    return path


def _expected(table: pa.Table, account: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = table.filter(pc.equal(table["account_id"], account)).to_pylist()
    return rows


@settings(max_examples=60, deadline=None)
@given(accounts=st.lists(st.sampled_from([f"acc_{i:03d}" for i in range(40)]), min_size=1, max_size=80),
       probe=st.sampled_from([f"acc_{i:03d}" for i in range(42)]), rows_per_group=st.integers(1, 9))
def test_equals_a_full_filter(tmp_path_factory: pytest.TempPathFactory, accounts: list[str], probe: str,
                              rows_per_group: int) -> None:
    folder = tmp_path_factory.mktemp("parts")
    half = len(accounts) // 2
    tables = [_table(accounts[:half], "a"), _table(accounts[half:], "b")]
    parts = [_write(folder / f"part-{i}.parquet", t, row_group_size=rows_per_group) for i, t in enumerate(tables)]
    got = account_rows(parts, probe).to_pylist()
    assert sorted(got, key=str) == sorted(_expected(tables[0], probe) + _expected(tables[1], probe), key=str)


def test_reads_only_the_row_groups_that_can_hold_the_account(tmp_path: Path) -> None:
    part = _write(tmp_path / "part-0.parquet", _table([f"acc_{i:03d}" for i in range(30)], "a"))
    account_rows([part], "acc_007")
    index = account_reads._cache[account_reads._key(part)]
    assert index.row_groups("acc_007") == [2]  # rows 6..8 of 10 groups of 3
    assert index.row_groups("zzz") == []


def test_a_file_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path / "day.parquet", _table(["a", "b", "c"], "old"))
    assert [r["tag"] for r in account_rows([path], "b").to_pylist()] == ["old"]
    stat = path.stat()
    _write(path, _table(["a", "b", "b", "c", "d"], "new"), row_group_size=2)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # even within one mtime tick
    assert [r["tag"] for r in account_rows([path], "b").to_pylist()] == ["new", "new"]
    assert sum(1 for key in account_reads._cache if key[0] == str(path)) == 1


def test_footers_without_statistics_read_every_row_group(tmp_path: Path) -> None:
    table = _table([f"acc_{i:02d}" for i in range(12)], "x")
    path = _write(tmp_path / "nostats.parquet", table, statistics=False)
    assert account_rows([path], "acc_05").to_pylist() == _expected(table, "acc_05")
    assert account_reads._cache[account_reads._key(path)].row_groups("acc_05") == [0, 1, 2, 3]


def test_columns_and_a_further_filter(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.parquet", _table(["a", "a", "a", "b"], "t"))
    got = account_rows([path], "a", ["n"], ds.field("n") >= 1)
    assert got.column_names == ["n"] and got.column("n").to_pylist() == [1, 2]
    assert account_rows([path], "nobody").num_rows == 0

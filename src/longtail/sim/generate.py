"""Run a world to the end and write the data files plus `truth/`."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import tables
from .config import SimConfig
from .population import NEVER
from .renewals import RenewalBatch
from .state import churn_probability, in_usage_drop
from .support import SurveyBatch, TicketBatch
from .usage import EventBatch
from .world import DayOutput, World
from .writer import TableWriter, parquet_writer, write_table

Progress = Callable[[int, int], None]
KINDS = ("accounts", "subscriptions", "contacts", "events", "tickets", "surveys", "team")


@dataclass(frozen=True)
class Summary:
    """Headline figures of a generated world (also used by the CLI)."""

    accounts: int
    contacts: int
    days: int
    events: int
    tickets: int
    surveys: int
    churn_by_tier: dict[str, float]  # logo churn of the starting book, annualised
    nrr: float  # net revenue retention of the starting book over the window
    grr: float
    activation_rate: float  # new accounts activated within 90 days of sign-up
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


class _Streams:
    """The per-day kinds, buffered for `chunk_days` days then written as one partition.

    Building Arrow tables and writing them runs on one background thread while
    the next chunk is simulated (both release the GIL); at most one chunk is in
    flight, so memory stays bounded, and writes stay in order, so the bytes do not
    depend on timing.
    """

    def __init__(self, out: Path, fmt: str, vocab: tables.Vocab) -> None:
        self.vocab = vocab
        self.writers = {k: TableWriter(out, k, fmt) for k in ("events", "tickets", "surveys")}
        self.events: list[EventBatch] = []
        self.tickets: list[TicketBatch] = []
        self.surveys: list[SurveyBatch] = []
        self.truth: list[pa.Table] = []
        self.truth_writer = _TruthWriter(out / "truth" / "state.parquet")
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="longtail-sim-writer")
        self.pending: Future[None] | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the writer thread after the previous one (re-raising its errors)."""
        self.wait()
        self.pending = self.pool.submit(job)

    def wait(self) -> None:
        if self.pending is not None:
            self.pending.result()
            self.pending = None

    def add(self, day: DayOutput) -> None:
        self.events.append(day.events)
        self.tickets.append(day.tickets)
        self.surveys.extend(day.surveys)

    def flush(self) -> None:
        if not self.events:
            return
        events, tickets, surveys, truth = self.events, self.tickets, self.surveys, self.truth
        self.events, self.tickets, self.surveys, self.truth = [], [], [], []
        self.submit(lambda: self._write(events, tickets, surveys, truth))

    def _write(self, events: list[EventBatch], tickets: list[TicketBatch], surveys: list[SurveyBatch],
               truth: list[pa.Table]) -> None:
        v = self.vocab
        for table in truth:
            self.truth_writer.write(table)
        # Per-day tables joined without copying: one row group per chunk.
        self.writers["events"].write(pa.concat_tables([tables.events_table(v, e) for e in events]))
        cols = ("account", "key", "opened_s", "closed_s", "priority", "status", "csat", "requester")
        tk = TicketBatch(*(np.concatenate([getattr(t, c) for t in tickets]) for c in cols))
        self.writers["tickets"].write(tables.tickets_table(v, tk))
        self.writers["surveys"].write(tables.surveys_table(v, surveys))

    def close(self) -> dict[str, int]:
        self.flush()
        self.wait()
        self.pool.shutdown()
        for w in self.writers.values():
            w.close()
        self.truth_writer.close()
        return {k: w.rows for k, w in self.writers.items()}


def generate(config: SimConfig, out_dir: Path, fmt: str = "csv", progress: Progress | None = None,
             world: World | None = None) -> Summary:
    """Simulate `config` and write every kind plus `truth/` under `out_dir`."""
    began = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(exist_ok=True)
    world = world or World(config)
    vocab = tables.Vocab(world)
    streams = _Streams(out_dir, fmt, vocab)
    days: list[int] = []
    while not world.done:
        out = world.step(world.today)
        streams.add(out)
        days.append(out.index)
        if out.index % config.truth_every == 0:
            streams.truth.append(_TruthWriter.snapshot(world, vocab))
        if (out.index + 1) % config.chunk_days == 0:
            streams.flush()
        if progress is not None:
            progress(out.index + 1, config.days)
    rows = streams.close()
    rows |= {
        "accounts": write_table(out_dir, "accounts", fmt, tables.accounts_table(vocab, world)),
        "subscriptions": write_table(out_dir, "subscriptions", fmt, tables.subscriptions_table(vocab, world)),
        "contacts": write_table(out_dir, "contacts", fmt, tables.contacts_table(vocab, world)),
        "team": write_table(out_dir, "team", fmt, tables.team_table(world)),
    }
    _write_truth(out_dir / "truth", vocab, world, days)
    return summarise(world, rows, time.perf_counter() - began,
                     {k: out_dir / f"{k}.{fmt}" for k in KINDS})


class _TruthWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    @staticmethod
    def snapshot(world: World, vocab: tables.Vocab) -> pa.Table:
        p = churn_probability(world.config, world.accounts, world.state, world.t - 1)
        return tables.truth_state_table(vocab, world, p, in_usage_drop(world.config, world.state))

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = parquet_writer(self.path, table.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _write_truth(directory: Path, vocab: tables.Vocab, world: World, days: list[int]) -> None:
    decisions = tables.decisions_table(vocab, world.decisions, days)
    pq.write_table(decisions, directory / "renewals.parquet", compression="zstd")
    churns = decisions.filter(pa.compute.is_valid(decisions["cause"]))
    pq.write_table(churns, directory / "churns.parquet", compression="zstd")
    pq.write_table(tables.truth_accounts_table(vocab, world), directory / "accounts.parquet",
                   compression="zstd")


def summarise(world: World, rows: dict[str, int], seconds: float, files: dict[str, Path]) -> Summary:
    """Churn by tier, NRR/GRR of the starting book and the activation rate."""
    cfg, acc, st = world.config, world.accounts, world.state
    book = acc.created_day < 0
    churned = st.churned_day < cfg.days
    years = cfg.days / 365.0
    churn = {}
    for t, name in enumerate(cfg.tiers.names):
        m = book & (acc.tier == t)
        rate = float(churned[m].mean()) if m.any() else float("nan")
        churn[name] = 1.0 - (1.0 - rate) ** (1.0 / years)
    arr_start = acc.arr[book].sum()
    arr_end = np.where(churned, 0.0, st.arr)[book].sum()
    lost = sum(float((d.arr_before - d.arr_after)[np.isin(d.outcome, (2, 3, 4)) & book[d.account]].sum())
               for d in world.decisions)
    new = (acc.created_day >= 0) & (acc.created_day < cfg.days - 90)
    fast = (st.activated_day != NEVER) & (st.activated_day - acc.created_day <= 90)
    return Summary(
        accounts=cfg.accounts, contacts=rows.get("contacts", 0), days=cfg.days,
        events=rows.get("events", 0), tickets=rows.get("tickets", 0), surveys=rows.get("surveys", 0),
        churn_by_tier=churn,
        # NaN when nobody was a customer at the start (tiny worlds): nothing to retain.
        nrr=float(arr_end / arr_start) if arr_start > 0 else float("nan"),
        grr=float(1.0 - lost / arr_start) if arr_start > 0 else float("nan"),
        activation_rate=float(fast[new].mean()) if new.any() else float("nan"),
        seconds=seconds, files=files,
    )


__all__ = ["KINDS", "Progress", "RenewalBatch", "Summary", "generate", "summarise"]

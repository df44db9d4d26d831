"""The simulator replies to a documented share of opened emails, by intent, without touching anything else."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from longtail.sim import Email, InApp, Intervention, SimConfig, World
from longtail.sim.config import EffectsConfig
from longtail.sim.ids import contact_id
from longtail.sim.interventions import INTENTS

ROLES = ("admin", "champion", "exec_sponsor", "billing", "power_user", "user")
REPLY = {"onboarding": 0.05, "adoption": 0.03, "renewal": 0.10, "rescue": 0.12, "newsletter": 0.005}
# Many opens so the reply shares are measurable; reply probabilities are the defaults.
EFFECTS = EffectsConfig(open_base=dict.fromkeys(ROLES, 0.9))
CFG = SimConfig(accounts=800, days=6, start=dt.date(2025, 1, 1), seed=23, effects=EFFECTS)


def _messages(world: World, day: int) -> list[Intervention]:
    """Every present contact: an email (intent by contact number and day), every fifth also an in-app message."""
    present = np.flatnonzero(world.state.present)
    out: list[Intervention] = [Email(contact_id(int(c)), INTENTS[(int(c) + day) % len(INTENTS)]) for c in present]
    out += [InApp(contact_id(int(c)), "rescue") for c in present[::5]]
    return out


def _run(cfg: SimConfig) -> tuple[list[pa.Table], World]:
    world = World(cfg)
    responses = []
    while not world.done:
        responses.append(world.step(world.today, _messages(world, world.t)).responses)
    return responses, world


@pytest.fixture(scope="module")
def runs() -> dict[str, Any]:
    silent = dataclasses.replace(EFFECTS, reply_given_open=dict.fromkeys(INTENTS, 0.0))
    return {"a": _run(CFG), "b": _run(CFG), "silent": _run(CFG.with_(effects=silent))}


def test_defaults_are_documented() -> None:
    assert EffectsConfig().reply_given_open == REPLY
    with pytest.raises(ValueError, match="between 0 and 1"):
        EffectsConfig(reply_given_open={**REPLY, "rescue": 1.5})


def test_replies_are_opened_emails_at_the_intent_rate(runs: dict[str, Any]) -> None:
    table = pa.concat_tables(runs["a"][0])
    kind = np.asarray(table["kind"].to_pylist())
    detail = np.asarray(table["detail"].to_pylist())
    opened, replied = np.asarray(table["opened"]), np.asarray(table["replied"])
    assert not (replied & ~opened).any(), "only opened messages are replied to"
    assert not replied[kind != "email"].any(), "in-app messages get no reply"
    for intent, p in REPLY.items():
        n = int((opened & (kind == "email") & (detail == intent)).sum())
        k = int((replied & (detail == intent)).sum())
        assert n > 1500, (intent, n)
        assert abs(k / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1 / n, (intent, k, n)


def test_replies_are_deterministic_and_change_nothing_else(runs: dict[str, Any]) -> None:
    (a, world_a), (b, _world_b), (silent, world_s) = runs["a"], runs["b"], runs["silent"]
    assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    assert sum(int(np.asarray(t["replied"]).sum()) for t in a) > 100
    assert sum(int(np.asarray(t["replied"]).sum()) for t in silent) == 0
    # Switching replies off changes the replied column only: the other draws and the world are the same.
    for x, y in zip(a, silent, strict=True):
        assert x.drop_columns(["replied"]).equals(y.drop_columns(["replied"]))
    for name in ("engagement", "satisfaction", "adoption", "fatigue", "unsubscribed"):
        assert np.array_equal(getattr(world_a.state, name), getattr(world_s.state, name)), name

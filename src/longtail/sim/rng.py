"""Random streams keyed by (seed, day, purpose): common random numbers.

Two kinds of draws keep the base world identical whether or not anything is
done to it:

* fixed-shape draws (one value per account or per contact and day) come from a
  `numpy.random.Generator` seeded by `SeedSequence([seed, purpose, day])`; the
  shape never depends on the state, so every account sees the same numbers;
* draws whose number depends on the state (one per event, per ticket, per
  intervention) come from a counter-based hash of (stream key, entity, k), so an
  account that emits one more event does not shift anybody else's numbers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


class Purpose(IntEnum):
    """Independent stream per use; the value is part of the seed, never reorder."""

    INIT = 1
    SHOCKS = 2
    NOISE_ENGAGEMENT = 3
    NOISE_SATISFACTION = 4
    USAGE = 5
    EVENT_TYPE = 6
    EVENT_TIME = 7
    TICKETS = 8
    TICKET_ATTRS = 9
    SURVEYS = 10
    RENEWAL = 11
    MILESTONES = 12
    RECOVERY = 13
    RESPONSES = 14
    INIT_CONTACTS = 15
    SEATS = 16


def generator(seed: int, purpose: Purpose, day: int = 0) -> np.random.Generator:
    """A generator for fixed-shape draws of one purpose on one day."""
    seq = np.random.SeedSequence([seed, int(purpose), day + (1 << 20)])
    return np.random.Generator(np.random.PCG64(seq))


def stream_key(seed: int, purpose: Purpose, day: int = 0) -> np.uint64:
    """A 64-bit key for counter-based draws of one purpose on one day."""
    seq = np.random.SeedSequence([seed, int(purpose), day + (1 << 20), 0xC0FFEE])
    return np.uint64(seq.generate_state(1, dtype=np.uint64)[0])


def mix64(x: U64) -> U64:
    """SplitMix64 finaliser: a bijective, well-mixed hash of 64-bit integers."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash_bits(keys: U64, key: np.uint64) -> U64:
    """64 random bits per key that depend only on (key, keys[i])."""
    return mix64(keys ^ key)


def hash_uniform(keys: U64, key: np.uint64) -> F64:
    """Uniform [0, 1) draws, one per key, that depend only on (key, keys[i])."""
    return (hash_bits(keys, key) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def entity_keys(entity: npt.NDArray[np.int64], k: npt.NDArray[np.int64] | int = 0) -> U64:
    """Counter for entity `entity` and its k-th draw (k < 4096)."""
    return (entity.astype(np.uint64) << np.uint64(12)) | np.asarray(k, dtype=np.uint64)

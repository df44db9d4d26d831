"""Product events: per-user daily usage plus onboarding and licence events.

Per contact and day one uniform decides both whether the user is active and,
rescaled, how many events follow the login (geometric count). Events are then
expanded with `np.repeat`; their type and time come from counter-based hashes
of the event key (day, contact, k), so they never shift another user's draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import catalog
from .rng import U64, Purpose, generator, hash_bits, hash_uniform, stream_key
from .state import Day

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# Keys: day << 44 | entity << 12 | k. Account-level entities live above contacts.
DAY_SHIFT = np.uint64(44)
ACCOUNT_ENTITY = 1 << 31

PROPS: tuple[str, ...] = (
    '{"integration":"slack"}', '{"integration":"salesforce"}', '{"integration":"jira"}',
    '{"integration":"google_drive"}', '{"channel":"email"}', '{"channel":"link"}',
    *(f'{{"milestone":"{m}"}}' for m in catalog.MILESTONE_NAMES),
)
PROP_INTEGRATION, PROP_CHANNEL, PROP_MILESTONE = 0, 4, 6

_CODES = catalog.usage_code_table()
_HOURS = catalog.hour_table()


@dataclass
class EventBatch:
    """One day's events as parallel arrays."""

    account: I64
    contact: I64  # -1 when the event belongs to the account
    code: I64
    ts_s: I64  # seconds since the Unix epoch, UTC
    value: F64  # NaN = empty
    prop: I64  # index into PROPS, -1 = empty
    key: U64  # unique; becomes event_id
    # Rows from here on have neither value nor properties (plain usage), which lets the
    # writer emit those columns as nulls without looking at them.
    plain_from: int = -1

    @staticmethod
    def concat(parts: list[EventBatch]) -> EventBatch:
        """Join batches; `plain_from` stays exact when only the last part is plain usage."""
        def cat(name: str) -> npt.NDArray[Any]:
            return np.concatenate([getattr(p, name) for p in parts])

        joined = EventBatch(account=cat("account"), contact=cat("contact"), code=cat("code"),
                            ts_s=cat("ts_s"), value=cat("value"), prop=cat("prop"), key=cat("key"))
        last = parts[-1] if parts else None
        head = sum(len(p) for p in parts[:-1])
        joined.plain_from = head + last.plain_from if last is not None and last.plain_from >= 0 else -1
        return joined

    @property
    def plain_start(self) -> int:
        return len(self) if self.plain_from < 0 else self.plain_from

    def __len__(self) -> int:
        return int(self.account.size)


def _keys(t: int, entity: I64, k: I64) -> U64:
    return ((np.uint64(t) << DAY_SHIFT) | (entity.astype(np.uint64) << np.uint64(12))
            | k.astype(np.uint64))


def _local_to_utc(day_s: int, local_s: I64, zone: I64) -> I64:
    """Local seconds of the day to UTC, wrapped into the same UTC day."""
    return day_s + (local_s - catalog.ZONE_OFFSET_S[zone]) % 86_400


def user_events(d: Day, weekday: int) -> EventBatch:
    """Free product usage of every present user of a live account."""
    cfg, con, st, t, day_s = d.cfg, d.con, d.st, d.t, d.day_s
    u = generator(cfg.seed, Purpose.USAGE, t).random(con.account.size, dtype=np.float32)
    a = con.account
    p = con.activity * st.engagement[a]
    p *= np.float32(cfg.usage.weekday[weekday])
    np.minimum(p, np.float32(0.95), out=p)
    active = np.flatnonzero((u < p) & st.present & st.live[a] & (st.contact_created_day < t))
    acc_active = a[active]
    # Rescale the same uniform: given activity it is uniform again, so it can draw the count.
    v = np.maximum(u[active].astype(np.float64) / p[active], 1e-12)
    mean = cfg.usage.extra_events_mean + cfg.usage.extra_events_adoption * st.adoption[acc_active]
    extra = np.floor(np.log(v) / np.log(mean / (1.0 + mean)))
    counts = 1 + np.minimum(extra, cfg.usage.max_events_per_user_day - 1).astype(np.int64)
    starts = np.cumsum(counts) - counts
    n = int(counts.sum())
    k = np.arange(n, dtype=np.int64) - np.repeat(starts, counts)
    contact = np.repeat(active, counts)
    key = _keys(t, contact, k)
    bits = hash_bits(key, stream_key(cfg.seed, Purpose.EVENT_TYPE, t))
    # Low 10 bits pick the event, the next 10 the session hour, the top 40 the rest.
    bucket = np.minimum(st.adoption[acc_active] * catalog.ADOPTION_BUCKETS, catalog.ADOPTION_BUCKETS - 1)
    row = con.role[active] * catalog.ADOPTION_BUCKETS + bucket.astype(np.int64)
    slot = (bits & np.uint64(catalog.CODE_SLOTS - 1)).astype(np.int64)
    code = _CODES[np.repeat(row, counts), slot].astype(np.int64)
    code[starts] = catalog.EVENT_CODE[catalog.LOGIN]
    hour = _HOURS[((bits[starts] >> np.uint64(10)) & np.uint64(catalog.HOUR_SLOTS - 1)).astype(np.int64)]
    frac = (bits >> np.uint64(24)).astype(np.float64) * (1.0 / (1 << 40))
    begin = hour * 3600 + (frac[starts] * 3600).astype(np.int64)
    # Ordered gaps (mean 10 minutes) after the login keep each session in time order.
    gaps = -np.log(np.maximum(frac, 1e-12)) * 600.0
    gaps[starts] = 0.0
    csum = np.cumsum(gaps)
    offset = np.repeat(begin - csum[starts], counts) + csum
    local = np.minimum(offset, 86_399).astype(np.int64)
    return EventBatch(
        account=np.repeat(acc_active, counts), contact=contact, code=code,
        ts_s=_local_to_utc(day_s, local, np.repeat(con.zone[active], counts)),
        value=np.full(n, np.nan), prop=np.full(n, -1, dtype=np.int64), key=key, plain_from=0,
    )


def onboarding_events(d: Day, hit_acc: I64, hit_ms: I64, activated: I64) -> EventBatch:
    """Milestone actions by the admin, the milestone marker, and activation."""
    acc, con, t, day_s = d.acc, d.con, d.t, d.day_s
    admin = acc.first_contact
    reps = np.where(hit_ms == 1, 5, 1)  # "five users invited" is five invitations
    a = np.repeat(hit_acc, reps)
    ms = np.repeat(hit_ms, reps)
    k = np.arange(a.size, dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
    raw_code = np.array([catalog.EVENT_CODE[e] for e in catalog.MILESTONE_EVENTS])[ms]
    raw_prop = np.where(ms == 0, PROP_INTEGRATION + (a % 4), np.where(ms == 2, PROP_CHANNEL, -1))
    n_ms = hit_acc.size
    acc_all = np.concatenate([a, hit_acc, activated])
    code = np.concatenate([raw_code, np.full(n_ms, catalog.EVENT_CODE[catalog.ONBOARDING_MILESTONE]),
                           np.full(activated.size, catalog.EVENT_CODE[catalog.ACTIVATED])])
    prop = np.concatenate([raw_prop, PROP_MILESTONE + hit_ms, np.full(activated.size, -1)])
    contact = np.concatenate([admin[a], np.full(n_ms + activated.size, -1)])
    kk = np.concatenate([k + 16 * ms, 100 + hit_ms, np.full(activated.size, 200)])
    # Local office hours of the admin, in order: raw action, marker, activation.
    base = 10 * 3600 + (acc.created_sec[acc_all] % 3600) + 60 * np.minimum(kk % 100, 30)
    ts = _local_to_utc(day_s, base.astype(np.int64), con.zone[admin[acc_all]])
    return EventBatch(
        account=acc_all, contact=contact, code=code, ts_s=ts,
        value=np.full(acc_all.size, np.nan), prop=prop.astype(np.int64),
        key=_keys(t, ACCOUNT_ENTITY + acc_all, kk),
    )


def licence_events(d: Day, used: F64) -> EventBatch:
    """Weekly metered seats in use (account level), with reporting noise."""
    cfg, acc, st, t, day_s = d.cfg, d.acc, d.st, d.t, d.day_s
    idx = np.flatnonzero(st.live & (acc.created_day < t))
    noise = 1.0 + 0.04 * (hash_uniform(idx.astype(np.uint64), stream_key(cfg.seed, Purpose.SEATS, t)) - 0.5)
    value = np.minimum(np.round(used[idx] * noise), st.seats[idx])
    return EventBatch(
        account=idx, contact=np.full(idx.size, -1, dtype=np.int64),
        code=np.full(idx.size, catalog.EVENT_CODE[catalog.LICENSE_USAGE], dtype=np.int64),
        ts_s=np.full(idx.size, day_s + 2 * 3600, dtype=np.int64), value=value,
        prop=np.full(idx.size, -1, dtype=np.int64), key=_keys(t, ACCOUNT_ENTITY + idx, np.full(idx.size, 300)),
    )

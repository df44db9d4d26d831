"""Account features as of any date, as one Ibis expression: the warehouse aggregates, Python never loops.

"As of d" means every record with a timestamp before the start of d + 1 in the workspace time zone
(`tz`); the N-day window is the N calendar days ending with d, i.e. [start of d - N + 1, start of d + 1).
Dates (subscription start/end) compare with d directly. Nothing here reads the clock.

Events are read in three passes: the recent window (90 days, or the longest custom window) grouped by
account, for windowed counts; the last 28 days per (account, event name), then per account, for
breadth (a two-level distinct count, stack notes §3); the whole usage history per (account, contact),
then per account, for active users and last activity (of the account and of key roles). Milestones are
a filtered read of the declared milestone events, engagement (`longtail.email.*`, `longtail.inapp.*`) a
filtered read of those events counted once per message. Declared vocabularies (families, logins, milestones)
become filtered aggregates, so no COUNT(DISTINCT) is needed. See docs/features.md for every definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from longtail.core.featuredefs import (
    FEATURES_FILE,
    KEY_ROLES,
    STANDARD_WINDOWS,
    FeatureDef,
    FeatureSet,
    load_feature_defs,
)

__all__ = [
    "FEATURES_FILE",
    "AnalyticTables",
    "FeatureDef",
    "FeatureSet",
    "HistoryState",
    "feature_table",
    "history_delta",
    "history_state",
    "load_feature_defs",
]

DAY_S = 86_400


@dataclass(frozen=True)
class AnalyticTables:
    """The contract's tables as Ibis expressions, all on one backend."""

    events: ir.Table
    accounts: ir.Table
    subscriptions: ir.Table
    contacts: ir.Table
    tickets: ir.Table
    surveys: ir.Table


@dataclass(frozen=True)
class HistoryState:
    """The whole-history aggregates of the events before `until` (an instant, UTC), for a series of dates.

    Last activity and milestones look at every event since the beginning. Both are a max or a min, so the state of
    a date is the state of the date before merged with the events in between: a series of dates reads each event
    once for them instead of once per date (`history_state`). `contacts`: account_id, contact_id, last_ts, the last
    usage event of each (account, contact), contact_id null for events without one. `milestones`: account_id and
    `_m0`... the first time of each declared milestone event (None when none is declared). `defs_hash`: the hash
    of the feature set it was built for (the milestones' columns follow its order).
    """

    until: datetime
    contacts: ir.Table
    milestones: ir.Table | None
    defs_hash: str


class _Bounds:
    """Instants (UTC) that bound the windows of one as-of date in one time zone."""

    def __init__(self, as_of: date, tz: str) -> None:
        self.as_of = as_of
        self.zone = ZoneInfo(tz)
        self.end_dt = self._start_of(as_of + timedelta(days=1))
        self.end = ibis.timestamp(self.end_dt)
        self.end_epoch = int(self.end_dt.timestamp())

    def _start_of(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)

    def start(self, days: int) -> ir.TimestampScalar:
        """Start of the `days`-day window ending with the as-of date."""
        return ibis.timestamp(self._start_of(self.as_of - timedelta(days=days - 1)))


def _epoch(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since 1970 (UTC), rounded down.

    floor() first: DuckDB and PostgreSQL give fractional seconds and round them when cast to an integer, Spark
    truncates; rounding up made an event in the last half second of the as-of date count as -1 days ago.
    """
    return ts.epoch_seconds().floor().cast("int64")


def _days_before(b: _Bounds, ts: ir.TimestampValue) -> ir.IntegerValue:
    """Days from the day of `ts` to the as-of date: 0 anywhere on the as-of day, 1 anywhere on the day before.

    Counted in 24-hour steps back from the end of the as-of date (exact except next to a DST change).
    """
    return ((b.end_epoch - 1 - _epoch(ts)) // DAY_S).cast("int64")


def _event_filter(events: ir.StringValue, spec: dict[str, list[str]]) -> ir.BooleanValue:
    if "include" in spec:
        return events.isin(spec["include"]) if spec["include"] else ibis.literal(False)
    return events.notin(spec["exclude"]) if spec["exclude"] else ibis.literal(True)


def _named(events: ir.StringValue, names: list[str]) -> ir.BooleanValue:
    """`events IN names`, as CASE WHEN ... THEN TRUE ELSE FALSE END (the same truth: an event name is never null).

    DuckDB turns a bare IN list over a Parquet scan into an "optional" scan filter and then filters every row after
    reading its other columns; wrapped in a CASE it is one expression evaluated in the scan. The milestone read of
    100M events went from 5.5 to 3.7 CPU-s. Used for that filter only: as the flags of the windowed pass, whose
    IN lists DuckDB evaluates as joins, the CASE made the whole table slower. Other backends read it as the IN.
    """
    named: ir.BooleanValue = ibis.ifelse(events.isin(names), True, False)
    return named


def _one_of(events: ir.StringValue, names: list[str]) -> ir.BooleanValue:
    """`events IN names`, led by a test of the names' common prefix when they share one.

    The prefix adds nothing logically (every name has it) but is what lets DuckDB skip rows while scanning: it
    turns an IN list into an optional scan filter and reads every other column of every row first, while a
    prefix test is applied in the scan. For longtail's engagement events ("longtail.") this spares reading
    `properties` of the whole event history (7.7 of ~78 operator-seconds in a profile over 100M events).
    """
    if not names:
        return ibis.literal(False)
    inside = events.isin(names)
    # the lexically first and last names share exactly the prefix all of them share
    low, high = min(names), max(names)
    prefix = low[: next((i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b), len(low))]
    return events.startswith(prefix) & inside if prefix else inside


def _windows(defs: FeatureSet) -> list[int]:
    wanted = set(STANDARD_WINDOWS)
    wanted.update(int(f.params["window_days"]) for f in defs.custom if f.kind == "event_count")
    return sorted(wanted)


def _event_features(ev: ir.Table, b: _Bounds, defs: FeatureSet) -> ir.Table:
    """Windowed counts in one pass over the recent events (the longest window), grouped by account.

    Every event-name test (usage, logins, each family) is evaluated once per event as a boolean column;
    the counts are filtered aggregates over those columns.
    """
    windows = _windows(defs)
    recent = ev.filter(ev.ts >= b.start(max(*windows, 56)))
    flags: dict[str, ir.Value] = {
        "_usage": _event_filter(recent.event, {"exclude": list(defs.system_events)}),
        "_login": _event_filter(recent.event, {"include": list(defs.login_events)}),
    }
    for i, (_fam, names) in enumerate(defs.families):
        flags[f"_fam{i}"] = _event_filter(recent.event, {"include": list(names)})
    custom = [f for f in defs.custom if f.kind == "event_count"]
    for i, f in enumerate(custom):
        flags[f"_cus{i}"] = _event_filter(recent.event, f.params["events"])
    r = recent.select("account_id", "ts", **flags)
    since = {n: r.ts >= b.start(n) for n in windows}
    out: dict[str, ir.Value] = {}
    for n in STANDARD_WINDOWS:
        out[f"events_{n}d"] = r.count(where=r._usage & since[n])
    for n in defs.family_windows:
        for i, (fam, _names) in enumerate(defs.families):
            out[f"{fam}_events_{n}d"] = r.count(where=r[f"_fam{i}"] & since[n])
    out["events_prev_28d"] = r.count(where=r._usage & (r.ts >= b.start(56)) & (r.ts < b.start(28)))
    for n in (7, 28):
        out[f"logins_{n}d"] = r.count(where=r._login & since[n])
    for i, f in enumerate(custom):
        out[f.name] = r.count(where=r[f"_cus{i}"] & since[int(f.params["window_days"])])
    return r.group_by("account_id").aggregate(**out)


def _breadth(ev: ir.Table, b: _Bounds, defs: FeatureSet) -> ir.Table:
    """Distinct usage event names in 28 days, as a two-level aggregation (stack notes §3)."""
    recent = ev.filter((ev.ts >= b.start(28)) & _event_filter(ev.event, {"exclude": list(defs.system_events)}))
    pairs = recent.group_by(["account_id", "event"]).aggregate()
    return pairs.group_by("account_id").aggregate(feature_breadth_28d=pairs.count())


def _usage(ev: ir.Table, defs: FeatureSet) -> ir.Table:
    return ev.filter(_event_filter(ev.event, {"exclude": list(defs.system_events)}))


def _custom_user_counts(usage: ir.Table, b: _Bounds, defs: FeatureSet) -> dict[str, ir.Value]:
    """Per (account, contact): its events counted by each custom active-users feature (window and event names)."""
    aggs: dict[str, ir.Value] = {}
    for f in defs.custom:
        if f.kind == "active_users":
            cond = (usage.ts >= b.start(int(f.params["window_days"]))) & _event_filter(usage.event, f.params["events"])
            aggs[f"c_{f.name}"] = usage.count(where=cond)
    return aggs


def _custom_users(ev: ir.Table, b: _Bounds, defs: FeatureSet) -> ir.Table | None:
    """The custom active-users features from their windows' events alone (with a `HistoryState`, which carries
    no per-contact windowed counts); None when there are none."""
    windows = [int(f.params["window_days"]) for f in defs.custom if f.kind == "active_users"]
    if not windows:
        return None
    recent = _usage(ev, defs)
    recent = recent.filter(recent.ts >= b.start(max(windows)))
    per = recent.group_by(["account_id", "contact_id"]).aggregate(**_custom_user_counts(recent, b, defs))
    person = per.contact_id.notnull()
    return per.group_by("account_id").aggregate(
        **{f.name: per.count(where=person & (per[f"c_{f.name}"] > 0)) for f in defs.custom if f.kind == "active_users"}
    )


def _history_features(ev: ir.Table, contacts: ir.Table, b: _Bounds, defs: FeatureSet,
                      carried: ir.Table | None = None) -> ir.Table:
    """Whole history of usage per (account, contact), then per account: active users and last activity.

    A contact is active in the last N days exactly when its last usage event is inside the window, so one
    max(ts) per contact gives active users for every window and the last activity of each role. `carried`: that
    per-contact table already computed (`HistoryState.contacts`); the custom active users are then left out
    (`_custom_users`).
    """
    if carried is None:
        usage = _usage(ev, defs)
        per = usage.group_by(["account_id", "contact_id"]).aggregate(
            last_ts=usage.ts.max(), **_custom_user_counts(usage, b, defs)
        )
    else:
        per = carried
    # Only key-role contacts are looked up: a third of them, so a smaller group-by and join. min() keeps one
    # role per contact portably (PostgreSQL has no FIRST()); contact ids are unique in the contract anyway.
    keyed = contacts.filter(contacts.role.isin(list(KEY_ROLES)))
    roles = keyed.group_by(_k=keyed.contact_id).aggregate(_role=keyed.role.min())
    per = per.left_join(roles, per.contact_id == roles._k).select(*per.columns, "_role")
    person = per.contact_id.notnull()
    out: dict[str, ir.Value] = {
        "active_users_7d": per.count(where=person & (per.last_ts >= b.start(7))),
        "active_users_28d": per.count(where=person & (per.last_ts >= b.start(28))),
        "_last_activity": per.last_ts.max(),
    }
    for role in KEY_ROLES:
        out[f"_last_{role}"] = per.last_ts.max(where=per._role == role)
    for f in defs.custom:
        if f.kind == "active_users" and carried is None:
            out[f.name] = per.count(where=person & (per[f"c_{f.name}"] > 0))
    return per.group_by("account_id").aggregate(**out)


def _milestone_firsts(ev: ir.Table, milestones: list[str]) -> ir.Table:
    """Per account, the first time of each milestone event (`_m0`, ...); `milestones` is not empty."""
    hits = ev.filter(_named(ev.event, milestones))
    return hits.group_by("account_id").aggregate(
        **{f"_m{i}": hits.ts.min(where=hits.event == name) for i, name in enumerate(milestones)}
    )


def _milestone_features(ev: ir.Table, defs: FeatureSet, carried: ir.Table | None = None) -> ir.Table:
    """First time of each declared milestone event, then how many were reached and the first of them.

    `carried`: the first times already computed (`HistoryState.milestones`)."""
    milestones = list(defs.milestone_events)
    if not milestones:
        hits = ev.filter(ibis.literal(False))
        return hits.group_by("account_id").aggregate(
            milestones_reached=ibis.literal(0, "int64"), _first_value=hits.ts.min()
        )
    firsts = carried if carried is not None else _milestone_firsts(ev, milestones)
    cols = [firsts[f"_m{i}"] for i in range(len(milestones))]
    reached: ir.IntegerValue = ibis.literal(0, "int64")
    for first in cols:
        reached = reached + ibis.ifelse(first.notnull(), 1, 0)  # PostgreSQL cannot cast boolean to bigint
    first_value = ibis.least(*cols) if len(cols) > 1 else cols[0]
    return firsts.select("account_id", milestones_reached=reached, _first_value=first_value)


_MESSAGE = r'"message"\s*:\s*"([^"]*)"'
"""The `message` key of an event's properties when it is a JSON string (a regular expression rather than a JSON
path: see `_attribute`; a JSON null or number there is no message key, alike on every backend)."""


def _engagement_features(ev: ir.Table, b: _Bounds, defs: FeatureSet) -> ir.Table:
    """Engagement with longtail's messages, counted once per (event, message), plus the last email engagement.

    One pass over the engagement events of the whole history (few next to product usage): per (account, event,
    message) the last time, then per account. A message is its `properties.message`, else the event's id (unique
    in the warehouse, which longtail derives from the message key and the kind). A message is in an N-day count
    when it had an event of that kind in the window, which is when its last one (before the end of the as-of
    date) is.
    """
    counts = [f for f in defs.features if f.kind == "engagement_count"]
    engaged = [f for f in defs.features if f.kind == "days_since_engagement"]
    names = sorted({str(f.params["event"]) for f in counts} | {str(e) for f in engaged for e in f.params["events"]})
    e = ev.filter(_one_of(ev.event, names))
    message = ibis.coalesce(e.properties.re_extract(_MESSAGE, 1).nullif(""), e.event_id)
    per = e.group_by([e.account_id, e.event, message.name("_message")]).aggregate(_last=e.ts.max())
    out: dict[str, ir.Value] = {}
    for f in counts:
        out[f.name] = per.count(where=(per.event == str(f.params["event"]))
                                & (per._last >= b.start(int(f.params["window_days"]))))
    for f in engaged:
        out[f"_last_{f.name}"] = per._last.max(where=per.event.isin(list(f.params["events"])))
    return per.group_by("account_id").aggregate(**out)


def _ticket_features(tickets: ir.Table, b: _Bounds, defs: FeatureSet) -> ir.Table:
    t = tickets.filter(tickets.opened_at < b.end)
    is_open = t.closed_at.isnull() | (t.closed_at >= b.end)
    # a float dividend: Spark reads 3600.0 as a DECIMAL literal and would round the quotient to 6 places
    hours = (_epoch(t.closed_at) - _epoch(t.opened_at)).cast("float64") / 3600.0
    closed_90 = (t.closed_at >= b.start(90)) & (t.closed_at < b.end)
    high = t.priority.lower().isin(list(defs.high_priority)) if defs.high_priority else ibis.literal(False)
    return t.group_by("account_id").aggregate(
        tickets_open=t.count(where=is_open),
        tickets_opened_30d=t.count(where=t.opened_at >= b.start(30)),
        tickets_high_priority_open=t.count(where=is_open & high),
        # null outside the window instead of median(where=...): Spark's percentile() needs a constant fraction
        median_resolution_hours_90d=ibis.ifelse(closed_90, hours, ibis.null("float64")).median(),
    )


def _survey_features(surveys: ir.Table, b: _Bounds) -> ir.Table:
    s = surveys.filter((surveys.ts < b.end) & surveys.score.notnull() & surveys.kind.isin(["nps", "csat"]))
    ranked = s.mutate(
        _rn=ibis.row_number().over(group_by=[s.account_id, s.kind], order_by=[s.ts.desc(), s.response_id.desc()])
    )
    r = ranked.filter(ranked._rn < 2)
    latest = r.group_by("account_id").aggregate(
        nps_latest=r.score.max(where=(r.kind == "nps") & (r._rn == 0)),
        _nps_prev=r.score.max(where=(r.kind == "nps") & (r._rn == 1)),
        csat_latest=r.score.max(where=(r.kind == "csat") & (r._rn == 0)),
    )
    return latest.mutate(nps_change=latest.nps_latest - latest._nps_prev)


def _subscription_features(subs: ir.Table, b: _Bounds) -> ir.Table:
    day = ibis.date(b.as_of)
    s = subs.filter((subs.start_date <= day) & (subs.end_date.isnull() | (subs.end_date > day)))
    mrr = ibis.coalesce(s.mrr, s.arr / 12.0)
    arr = ibis.coalesce(s.arr, s.mrr * 12.0)
    agg = s.group_by("account_id").aggregate(
        seats=s.quantity.sum(), mrr=mrr.sum(), arr=arr.sum(), _renewal=s.end_date.min(), _active=s.count()
    )
    return agg.mutate(days_to_renewal=agg._renewal.delta(day, unit="day").cast("int64"))


_NUMBER = r'^"?\s*([-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?)\s*"?$'
"""A JSON number, or a string holding a decimal number: the text of one attribute value that counts as numeric."""


def _attribute(accounts: ir.Table, name: str) -> ir.FloatingValue:
    """The attribute as a number: a JSON number or a numeric string; null otherwise (absent, text, bool, ...).

    The value's JSON text is matched against a plain decimal pattern and only then cast, rather than using
    unwrap_as/try_cast: those compile to broken SQL on PostgreSQL (`->> VARIADIC`, and TRY_CAST is a plain
    CAST there), and Spark's GET_JSON_OBJECT returns strings without their quotes (hence the optional quotes).
    """
    text = accounts.attributes.cast("json")[name].cast("string")
    number: ir.FloatingValue = text.re_extract(_NUMBER, 1).nullif("").cast("float64")
    return number


def _standard_columns(base: ir.Table, b: _Bounds, defs: FeatureSet) -> dict[str, ir.Value]:
    zero = ibis.literal(0, "int64")

    def count(name: str) -> ir.Value:
        return ibis.coalesce(base[name].cast("int64"), zero)

    cols: dict[str, ir.Value] = {}
    for name in ("events_prev_28d", "logins_7d", "logins_28d", "active_users_7d", "active_users_28d",
                 "feature_breadth_28d", "milestones_reached", "tickets_open", "tickets_opened_30d",
                 "tickets_high_priority_open"):
        cols[name] = count(name)
    for n in STANDARD_WINDOWS:
        cols[f"events_{n}d"] = count(f"events_{n}d")
    for n in defs.family_windows:
        for fam, _names in defs.families:
            cols[f"{fam}_events_{n}d"] = count(f"{fam}_events_{n}d")
    prev = cols["events_prev_28d"]
    cols["events_change_pct"] = ibis.ifelse(
        prev > 0, (cols["events_28d"] - prev).cast("float64") * 100.0 / prev.cast("float64"), ibis.null("float64")
    )
    seats = ibis.coalesce(base.seats.cast("int64"), zero)
    cols["seats"] = seats
    cols["seat_utilisation"] = ibis.ifelse(
        seats > 0, cols["active_users_28d"].cast("float64") / seats.cast("float64"), ibis.null("float64")
    )
    cols["days_since_last_activity"] = _days_before(b, base._last_activity)
    for role in KEY_ROLES:
        cols[f"days_since_{role}_active"] = _days_before(b, base[f"_last_{role}"])
    cols["days_to_first_value"] = ((_epoch(base._first_value) - _epoch(base.created_at)) // DAY_S).cast("int64")
    cols["median_resolution_hours_90d"] = base.median_resolution_hours_90d.cast("float64")
    for name in ("nps_latest", "nps_change", "csat_latest"):
        cols[name] = base[name].cast("float64")
    cols["days_to_renewal"] = base.days_to_renewal.cast("int64")
    cols["tenure_days"] = _days_before(b, base.created_at)
    cols["mrr"] = ibis.coalesce(base.mrr.cast("float64"), ibis.literal(0.0))
    cols["arr"] = ibis.coalesce(base.arr.cast("float64"), ibis.literal(0.0))
    # an account without an active subscription has no row in the subscription aggregate: null means 0
    active = ibis.coalesce(base._active.cast("int64"), zero)
    cols["is_customer"] = ibis.ifelse(active > 0, ibis.literal(1, "int64"), zero)
    cols.update(_engagement_columns(base, b, defs))
    return cols


def _engagement_columns(base: ir.Table, b: _Bounds, defs: FeatureSet) -> dict[str, ir.Value]:
    zero = ibis.literal(0, "int64")
    cols: dict[str, ir.Value] = {}
    for f in defs.features:
        if f.kind == "engagement_count":
            cols[f.name] = ibis.coalesce(base[f.name].cast("int64"), zero)
        elif f.kind == "days_since_engagement":
            cols[f.name] = _days_before(b, base[f"_last_{f.name}"])
    for f in defs.features:
        if f.kind == "ratio" and f.params["numerator"] in cols:
            num, den = cols[f.params["numerator"]], cols[f.params["denominator"]]
            cols[f.name] = ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))
    return cols


def _custom_columns(base: ir.Table, defs: FeatureSet) -> dict[str, ir.Value]:
    cols: dict[str, ir.Value] = {}
    for f in defs.custom:
        if f.kind in ("event_count", "active_users"):
            cols[f.name] = ibis.coalesce(base[f.name].cast("int64"), ibis.literal(0, "int64"))
        elif f.kind == "attribute":
            cols[f.name] = _attribute(base, str(f.params["attribute"]))
        else:  # pragma: no cover - load_feature_defs only builds the kinds above
            raise ValueError(f"unknown custom feature kind {f.kind!r}")
    return cols


def _join(left: ir.Table, right: ir.Table) -> ir.Table:
    right = right.rename(_key="account_id")
    joined = left.left_join(right, left.account_id == right._key)
    return joined.drop("_key")


HISTORY_COLUMNS = ("account_id", "contact_id", "event", "ts")
"""The event columns a `HistoryState` reads."""


def history_delta(tables: AnalyticTables, as_of: date, previous: HistoryState, tz: str = "UTC") -> ir.Table:
    """The events that `history_state(tables, as_of, ..., previous=previous)` reads: from the end of `previous` to
    the end of `as_of`, `HISTORY_COLUMNS` only. Materialized once, it serves both parts of the state (one read of
    the events instead of two: each scan of a large event file costs about the same however few rows it keeps)."""
    b = _Bounds(as_of, tz)
    ev = tables.events
    return ev.filter((ev.ts >= ibis.timestamp(previous.until)) & (ev.ts < b.end)).select(*HISTORY_COLUMNS)


def history_state(tables: AnalyticTables, as_of: date, defs: FeatureSet, tz: str = "UTC",
                  previous: HistoryState | None = None) -> HistoryState:
    """The `HistoryState` of `as_of` (events before the end of that day in `tz`), as expressions.

    With `previous` (an earlier date's state, materialized by the caller), only the events in between are read and
    merged into it (`tables.events` may then be just those, `history_delta`). Materialize the result (e.g.
    `Table.cache()`) before handing it to `feature_table` and to the next date: otherwise every date's
    expression would nest the whole chain.
    """
    b = _Bounds(as_of, tz)
    ev = tables.events.filter(tables.events.ts < b.end)
    if previous is not None:
        _same_defs(previous, defs)
        if previous.until > b.end_dt:
            raise ValueError(f"the history state runs to {previous.until.isoformat()}, after the end of {as_of}: "
                             "dates must ascend")
        ev = ev.filter(ev.ts >= ibis.timestamp(previous.until))
    usage = _usage(ev, defs)
    contacts = usage.group_by(["account_id", "contact_id"]).aggregate(last_ts=usage.ts.max())
    milestones = list(defs.milestone_events)
    firsts = _milestone_firsts(ev, milestones) if milestones else None
    if previous is not None:
        # cast to the new rows' types: a backend may give a stored table's timestamps without their time zone
        merged = previous.contacts.cast(contacts.schema()).union(contacts, distinct=False)
        contacts = merged.group_by(["account_id", "contact_id"]).aggregate(last_ts=merged.last_ts.max())
        if firsts is not None and previous.milestones is not None:
            both = previous.milestones.cast(firsts.schema()).union(firsts, distinct=False)
            firsts = both.group_by("account_id").aggregate(
                **{f"_m{i}": both[f"_m{i}"].min() for i in range(len(milestones))}
            )
    return HistoryState(until=b.end_dt, contacts=contacts, milestones=firsts, defs_hash=defs.hash)


def _same_defs(state: HistoryState, defs: FeatureSet) -> None:
    if state.defs_hash != defs.hash:
        raise ValueError(f"the history state was built for feature set {state.defs_hash[:12]}, not for "
                         f"{defs.hash[:12]}")


def feature_table(tables: AnalyticTables, as_of: date, defs: FeatureSet, tz: str = "UTC",
                  state: HistoryState | None = None) -> ir.Table:
    """One row per account existing on `as_of`: account_id, as_of, then `defs` in order (see module doc).

    `state`: the `HistoryState` of this very date (same `tz`); the whole-history parts are then read from it
    instead of the events. The table is the same either way.
    """
    b = _Bounds(as_of, tz)
    if state is not None:
        _same_defs(state, defs)
        if state.until != b.end_dt:
            raise ValueError(f"the history state runs to {state.until.isoformat()}, not to the end of {as_of} in {tz}")
    accounts = tables.accounts
    base = accounts.filter(accounts.created_at.isnull() | (accounts.created_at < b.end)).select(
        "account_id", "created_at", "attributes"
    )
    ev = tables.events.filter(tables.events.ts < b.end)
    parts = [
        _event_features(ev, b, defs),
        _breadth(ev, b, defs),
        _history_features(ev, tables.contacts, b, defs, state.contacts if state is not None else None),
        _milestone_features(ev, defs, state.milestones if state is not None else None),
        _engagement_features(ev, b, defs),
        _ticket_features(tables.tickets, b, defs),
        _survey_features(tables.surveys, b),
        _subscription_features(tables.subscriptions, b),
    ]
    custom_users = _custom_users(ev, b, defs) if state is not None else None
    if custom_users is not None:
        parts.append(custom_users)
    for part in parts:
        base = _join(base, part)
    cols: dict[str, Any] = {**_standard_columns(base, b, defs), **_custom_columns(base, defs)}
    missing = [name for name in defs.names if name not in cols]
    if missing:
        raise ValueError(f"no computation for feature(s): {', '.join(missing)}")
    ordered = {name: cols[name] for name in defs.names}
    return base.select(account_id=base.account_id, as_of=ibis.date(as_of), **ordered).order_by("account_id")

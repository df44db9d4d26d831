"""Every parameter of the simulated world, with its documented default.

All rates are per day unless the name says otherwise; `docs/simulator.md`
explains each group. The dataclasses are frozen so that one config can be shared safely between
a treated and a counterfactual run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class TierConfig:
    """Contract value: tier shares and ARR bounds (USD)."""

    names: tuple[str, str, str] = ("pooled", "mid", "enterprise")
    shares: tuple[float, float, float] = (0.70, 0.20, 0.10)
    # ARR is log-uniform inside the two lower tiers and Pareto above the last bound.
    bounds: tuple[float, float, float, float] = (3_000.0, 25_000.0, 100_000.0, 2_000_000.0)
    pareto_alpha: float = 1.6
    # List price per seat and month; seats = ARR / (12 * price).
    seat_price: tuple[float, float, float] = (45.0, 70.0, 95.0)
    plans: tuple[str, str, str] = ("team", "business", "enterprise")
    # Share of accounts billed monthly (they may cancel at any month boundary).
    monthly_share: tuple[float, float, float] = (0.45, 0.10, 0.0)
    # Baseline churn logit at renewal, before the latent-state terms.
    churn_logit: tuple[float, float, float] = (-1.00, -2.15, -3.40)


@dataclass(frozen=True)
class PopulationConfig:
    """Accounts, contacts and the CS team."""

    # Share of accounts that sign up during the simulated window (they onboard).
    new_account_share: float = 0.15
    max_account_age_years: float = 6.0
    # Contacts per account = clip(a + b * sqrt(seats), lo, hi): named users, not every seat.
    contacts_a: float = 1.5
    contacts_b: float = 0.55
    contacts_lo: int = 2
    contacts_hi: int = 30
    # Exec sponsor and billing contact from this tier index upwards (1 = mid).
    exec_sponsor_from_tier: int = 1
    power_user_share: float = 0.25
    # Accounts per CSM by tier, CSMs per lead.
    csm_capacity: tuple[int, int, int] = (2000, 60, 15)
    csms_per_lead: int = 8


@dataclass(frozen=True)
class UsageConfig:
    """Per-user daily product usage."""

    # Probability that a user with propensity 1 is active on a weekday at engagement 1.
    active_base: float = 0.32
    # Mon..Sun multipliers of the active probability.
    weekday: tuple[float, float, float, float, float, float, float] = (1.0, 1.05, 1.05, 1.0, 0.9, 0.15, 0.1)
    # Extra events after the login on an active day: geometric with this mean (+ adoption bonus).
    extra_events_mean: float = 1.2
    extra_events_adoption: float = 2.0
    max_events_per_user_day: int = 200


@dataclass(frozen=True)
class DynamicsConfig:
    """Daily evolution of the latent state."""

    engagement_reversion: float = 0.06
    engagement_noise: float = 0.025
    satisfaction_reversion: float = 0.03
    satisfaction_noise: float = 0.02
    adoption_growth: float = 0.004
    # Onboarding: daily hazard of reaching each milestone, scaled by fit.
    milestone_hazard: tuple[float, float, float] = (0.035, 0.022, 0.018)
    # Shocks: yearly rates, duration in days and effect on the engagement target.
    shock_names: tuple[str, ...] = ("champion_left", "reorg", "budget_cut", "competitor", "new_team")
    shock_rate_per_year: tuple[float, ...] = (0.10, 0.06, 0.07, 0.08, 0.10)
    shock_days: tuple[int, ...] = (120, 75, 200, 150, 90)
    shock_engagement: tuple[float, ...] = (-0.22, -0.12, -0.05, -0.12, 0.06)
    # Added to the churn logit while the shock lasts.
    shock_churn_logit: tuple[float, ...] = (0.9, 0.5, 1.3, 1.0, -0.3)
    # Extra seats wanted after a new team joins (multiplier on demand).
    new_team_growth: float = 0.35
    # Tickets per account-day = base * seats**exp * (0.5 + 1.5 * (1 - satisfaction)).
    ticket_base: float = 0.0018
    ticket_seat_exp: float = 0.6
    bad_support_hit: float = 0.15
    # Usage drop: 7-day engagement below (1 - drop) of its 60-day average.
    usage_drop: float = 0.25


@dataclass(frozen=True)
class RenewalConfig:
    """Renewal outcome model (logit terms are added to the tier baseline)."""

    w_engagement: float = 6.0
    w_satisfaction: float = 3.0
    w_not_activated: float = 0.9
    w_utilisation: float = 1.2
    engagement_ref: float = 0.5
    satisfaction_ref: float = 0.65
    utilisation_ref: float = 0.7
    expand_logit: float = 0.5
    expand_utilisation: float = 6.0
    expand_size: tuple[float, float] = (0.15, 0.60)
    contract_logit: float = -2.6
    contract_utilisation: float = 4.0
    contract_size: tuple[float, float] = (0.10, 0.35)
    price_uplift: float = 0.05


@dataclass(frozen=True)
class EffectsConfig:
    """Causal effects of interventions (see docs/simulator.md, 'Interventions')."""

    open_base: dict[str, float] = field(default_factory=lambda: {
        "admin": 0.45, "champion": 0.55, "exec_sponsor": 0.30,
        "billing": 0.35, "power_user": 0.40, "user": 0.25})
    open_engagement: float = 0.5
    click_given_open: float = 0.25
    # Share of opened emails the contact replies to, by intent: a renewal or a rescue note asks a question,
    # a newsletter does not. A reply is a signal only (no effect on the latent state).
    reply_given_open: dict[str, float] = field(default_factory=lambda: {
        "onboarding": 0.05, "adoption": 0.03, "renewal": 0.10, "rescue": 0.12, "newsletter": 0.005})
    inapp_view: float = 0.6
    inapp_click_given_view: float = 0.2
    attend: dict[str, float] = field(default_factory=lambda: {"webinar": 0.12, "onboarding_session": 0.35})
    attend_engagement: float = 0.4
    # Onboarding help multiplies milestone hazards while it lasts.
    onboarding_boost: float = 2.5
    onboarding_boost_days: int = 30
    adoption_boost: float = 0.04
    call_satisfaction: float = 0.05
    blocker_satisfaction: float = 0.12
    # Rescue call on an account in a usage drop: churn probability x (1 - efficacy_i)
    # for `rescue_days`, efficacy_i = rescue_efficacy * U(0.5, 1.5) if the account is saveable.
    rescue_efficacy: float = 0.40
    rescue_days: int = 180
    saveable_share: float = 0.70
    # Fatigue: messages add 1 to a contact's fatigue, which decays by this factor daily.
    fatigue_decay: float = 0.85
    fatigue_free: float = 1.5
    fatigue_engagement: float = 0.02
    # Annoyance also erodes satisfaction (per unit of excess fatigue per day, capped at 10 units).
    fatigue_satisfaction: float = 0.004
    unsubscribe_base: float = 0.002
    unsubscribe_fatigue: float = 0.03

    def __post_init__(self) -> None:
        bad = {k: p for k, p in self.reply_given_open.items() if not 0.0 <= p <= 1.0}
        if bad:
            raise ValueError(f"reply_given_open probabilities must be between 0 and 1, got {bad}")


@dataclass(frozen=True)
class SimConfig:
    """The whole world: size, time window, seed and every model parameter."""

    accounts: int = 500
    days: int = 365
    start: dt.date = dt.date(2025, 1, 1)
    seed: int = 7
    # Write the daily latent state every `truth_every` days (1 = daily).
    truth_every: int = 1
    # Days per streamed partition (one Parquet row group / CSV batch).
    chunk_days: int = 7
    tiers: TierConfig = field(default_factory=TierConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    usage: UsageConfig = field(default_factory=UsageConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    renewal: RenewalConfig = field(default_factory=RenewalConfig)
    effects: EffectsConfig = field(default_factory=EffectsConfig)

    def __post_init__(self) -> None:
        if self.accounts < 1:
            raise ValueError(f"accounts must be at least 1, got {self.accounts}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if self.truth_every < 1 or self.chunk_days < 1:
            raise ValueError("truth_every and chunk_days must be at least 1")
        if abs(sum(self.tiers.shares) - 1.0) > 1e-9:
            raise ValueError(f"tier shares must sum to 1, got {self.tiers.shares}")

    @property
    def end(self) -> dt.date:
        """First day after the simulated window (exclusive end)."""
        return self.start + dt.timedelta(days=self.days)

    def with_(self, **changes: object) -> SimConfig:
        """A copy with some top-level fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

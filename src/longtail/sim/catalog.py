"""Static vocabularies: roles, event catalogue, countries and time zones, names."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ROLES: tuple[str, ...] = ("admin", "champion", "exec_sponsor", "billing", "power_user", "user")
ADMIN, CHAMPION, EXEC, BILLING, POWER, USER = range(6)

TITLES: tuple[tuple[str, ...], ...] = (
    ("IT Manager", "Systems Administrator", "Operations Manager"),
    ("Head of Operations", "Team Lead", "Program Manager"),
    ("VP Operations", "COO", "Chief Digital Officer"),
    ("Finance Manager", "Procurement Lead", "Controller"),
    ("Senior Analyst", "Project Manager", "Product Specialist"),
    ("Analyst", "Coordinator", "Associate", "Specialist"),
)

# Relative propensity to be active, by role (admins and billing log in less).
ROLE_ACTIVITY = np.array([0.8, 1.3, 0.25, 0.2, 1.6, 0.9], dtype=np.float32)

# Usage categories; the first event of each active user-day is always `login`.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("project_created", "document_edited", "file_uploaded", "comment_added",
              "task_completed", "search_performed")),
    ("sticky", ("dashboard_created", "automation_created", "workflow_run", "api_call",
                "template_used", "data_exported")),
    ("integration", ("integration_synced",)),
    ("admin", ("settings_updated", "role_assigned", "sso_configured", "billing_updated")),
    ("reports", ("report_created", "report_viewed")),
    ("invites", ("invite_accepted",)),
)
# Category mix by role (rows follow ROLES); the sticky share is scaled by adoption.
ROLE_MIX = np.array([
    [0.40, 0.15, 0.08, 0.30, 0.05, 0.02],
    [0.55, 0.20, 0.05, 0.04, 0.14, 0.02],
    [0.35, 0.05, 0.00, 0.02, 0.58, 0.00],
    [0.30, 0.00, 0.00, 0.60, 0.10, 0.00],
    [0.50, 0.30, 0.05, 0.02, 0.12, 0.01],
    [0.75, 0.08, 0.02, 0.00, 0.13, 0.02],
], dtype=np.float64)
STICKY = 1

# Events emitted by processes other than free usage.
LOGIN = "login"
MILESTONE_EVENTS: tuple[str, str, str] = ("integration_connected", "user_invited", "report_shared")
MILESTONE_NAMES: tuple[str, str, str] = (
    "first_integration_connected", "five_users_invited", "first_report_shared")
ONBOARDING_MILESTONE = "onboarding_milestone"
ACTIVATED = "account_activated"
LICENSE_USAGE = "license_usage"

EVENT_NAMES: tuple[str, ...] = (
    LOGIN,
    *(name for _, names in CATEGORIES for name in names),
    *MILESTONE_EVENTS,
    ONBOARDING_MILESTONE,
    ACTIVATED,
    LICENSE_USAGE,
)
EVENT_CODE: dict[str, int] = {name: i for i, name in enumerate(EVENT_NAMES)}


# Within a category the first events are the common ones (weights decay geometrically).
WITHIN_DECAY = 0.7
LOOKUP_SLOTS = 128


def category_lookup() -> npt.NDArray[np.int64]:
    """(category, slot) -> event code, slots filled in proportion to the weights."""
    table = np.zeros((len(CATEGORIES), LOOKUP_SLOTS), dtype=np.int64)
    for c, (_, names) in enumerate(CATEGORIES):
        w = WITHIN_DECAY ** np.arange(len(names))
        edges = np.cumsum(w) / w.sum() * LOOKUP_SLOTS
        slot = np.searchsorted(edges, np.arange(LOOKUP_SLOTS) + 0.5)
        table[c] = [EVENT_CODE[names[i]] for i in slot]
    return table


# Local-hour activity profile (0..23): office hours with a lunch dip.
HOUR_PROFILE = np.array([
    0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 2.0, 5.0, 8.0, 9.0, 8.5,
    6.0, 7.5, 8.5, 8.0, 7.0, 5.0, 3.0, 2.0, 1.5, 1.2, 0.8, 0.4], dtype=np.float64)

# Country, weight, [(IANA zone, UTC offset hours)] — standard offsets, no DST.
COUNTRIES: tuple[tuple[str, float, tuple[tuple[str, float], ...]], ...] = (
    ("US", 0.42, (("America/New_York", -5), ("America/Chicago", -6), ("America/Denver", -7),
                  ("America/Los_Angeles", -8))),
    ("GB", 0.10, (("Europe/London", 0),)),
    ("DE", 0.08, (("Europe/Berlin", 1),)),
    ("FR", 0.05, (("Europe/Paris", 1),)),
    ("CA", 0.06, (("America/Toronto", -5), ("America/Vancouver", -8))),
    ("AU", 0.05, (("Australia/Sydney", 10), ("Australia/Perth", 8))),
    ("NL", 0.04, (("Europe/Amsterdam", 1),)),
    ("IN", 0.05, (("Asia/Kolkata", 5.5),)),
    ("BR", 0.04, (("America/Sao_Paulo", -3),)),
    ("JP", 0.03, (("Asia/Tokyo", 9),)),
    ("SE", 0.03, (("Europe/Stockholm", 1),)),
    ("ES", 0.03, (("Europe/Madrid", 1),)),
    ("SG", 0.02, (("Asia/Singapore", 8),)),
)
ZONES: tuple[str, ...] = tuple(z for _, _, zones in COUNTRIES for z, _ in zones)
ZONE_OFFSET_S = np.array([int(o * 3600) for _, _, zones in COUNTRIES for _, o in zones], dtype=np.int64)


def zone_table() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(first zone index, number of zones) per country, aligned with COUNTRIES."""
    sizes = np.array([len(zones) for _, _, zones in COUNTRIES], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return first, sizes


INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("software", 0.22), ("financial_services", 0.12), ("healthcare", 0.10),
    ("retail", 0.10), ("manufacturing", 0.10), ("education", 0.07),
    ("media", 0.07), ("professional_services", 0.12), ("logistics", 0.05),
    ("nonprofit", 0.05),
)

NAME_LEFT: tuple[str, ...] = (
    "Acme", "Blue", "North", "Bright", "Silver", "Quantum", "Red", "Pioneer", "Summit",
    "Harbor", "Nova", "Atlas", "Cedar", "Vertex", "Lumen", "Orbit", "Granite", "Maple",
    "Falcon", "Helix", "Iron", "Juniper", "Kestrel", "Lattice", "Meridian", "Nimbus",
)
NAME_RIGHT: tuple[str, ...] = (
    "Labs", "Systems", "Works", "Logistics", "Health", "Analytics", "Partners", "Retail",
    "Foods", "Capital", "Media", "Robotics", "Energy", "Learning", "Studios", "Group",
)
FIRST_NAMES: tuple[str, ...] = (
    "Alex", "Sam", "Maria", "Li", "Priya", "John", "Fatima", "Lucas", "Emma", "Noah",
    "Olivia", "Mateo", "Yuki", "Hannah", "Omar", "Sofia", "Daniel", "Aisha", "Chen", "Eva",
    "Jonas", "Chloé", "Zoë", "Björn",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Garcia", "Müller", "Nguyen", "Patel", "Kim", "Rossi", "Dubois", "Silva",
    "Tanaka", "Johnson", "Okafor", "Kowalski", "Larsen", "Brown", "Cohen", "Novak", "Ali",
)


ADOPTION_BUCKETS = 16
CODE_SLOTS = 1024


def usage_code_table() -> npt.NDArray[np.int16]:
    """(role * ADOPTION_BUCKETS + adoption bucket, slot) -> event code of a non-login event.

    The category mix of a role has its sticky share scaled by adoption
    (0.2 + 1.6 * adoption); slots are filled in proportion to the weights, so
    one uniform picks category and event with a single gather.
    """
    within = category_lookup()
    table = np.zeros((len(ROLES) * ADOPTION_BUCKETS, CODE_SLOTS), dtype=np.int16)
    x = (np.arange(CODE_SLOTS) + 0.5) / CODE_SLOTS
    for role in range(len(ROLES)):
        for b in range(ADOPTION_BUCKETS):
            mix = ROLE_MIX[role].copy()
            mix[STICKY] *= 0.2 + 1.6 * (b + 0.5) / ADOPTION_BUCKETS
            cum = np.cumsum(mix) / mix.sum()
            cat = np.minimum(np.searchsorted(cum, x, side="right"), len(CATEGORIES) - 1)
            lo = np.where(cat > 0, cum[np.maximum(cat - 1, 0)], 0.0)
            frac = np.clip((x - lo) / (cum[cat] - lo), 0.0, 0.999999)
            table[role * ADOPTION_BUCKETS + b] = within[cat, (frac * LOOKUP_SLOTS).astype(np.int64)]
    return table


HOUR_SLOTS = 1024


def hour_table() -> npt.NDArray[np.int64]:
    """slot -> local hour, slots filled in proportion to HOUR_PROFILE."""
    cdf = np.cumsum(HOUR_PROFILE) / HOUR_PROFILE.sum()
    return np.minimum(np.searchsorted(cdf, (np.arange(HOUR_SLOTS) + 0.5) / HOUR_SLOTS, side="right"), 23)

"""A seeded simulator of a B2B SaaS customer base (see docs/simulator.md).

`generate` writes the data contract's files plus `truth/`; `World` is the
closed loop that advances one day at a time and accepts interventions.
"""

from .config import DynamicsConfig, EffectsConfig, PopulationConfig, RenewalConfig, SimConfig, TierConfig, UsageConfig
from .generate import KINDS, Summary, generate, summarise
from .interventions import CsmTask, Email, InApp, Intervention, Invite
from .world import DayOutput, World

__all__ = [
    "KINDS", "CsmTask", "DayOutput", "DynamicsConfig", "EffectsConfig", "Email", "InApp",
    "Intervention", "Invite", "PopulationConfig", "RenewalConfig", "SimConfig", "Summary",
    "TierConfig", "UsageConfig", "World", "generate", "summarise",
]

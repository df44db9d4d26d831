"""Motion as code: segments, tiers, triggers, playbooks, CTAs, routing and backtests (pure core)."""

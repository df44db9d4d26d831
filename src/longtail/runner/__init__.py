"""Adapters that run the motion over a workspace: the daily cycle, plan and backtest."""

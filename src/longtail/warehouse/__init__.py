"""Analytic warehouse through Ibis (DuckDB by default)."""

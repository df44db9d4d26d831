"""Operational store: SQLAlchemy Core tables, Alembic migrations, repositories."""

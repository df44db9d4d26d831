"""`python -m longtail` runs the CLI."""

from longtail.cli.main import run

run()

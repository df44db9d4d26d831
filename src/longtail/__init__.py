"""longtail: scaled Customer Success as reviewable, backtestable code."""

__version__ = "0.1.0"

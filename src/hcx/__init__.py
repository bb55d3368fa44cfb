"""hcx: a durable exchange engine for options."""

__version__ = "0.1.0"

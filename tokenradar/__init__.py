"""tokenradar: catches runaway AI token spend while it happens."""

__version__ = "0.1.0"

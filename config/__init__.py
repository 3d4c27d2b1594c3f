"""Switchboard project configuration."""

__version__ = "0.1.0"

"""Netra: a real-time, multi-user AI agent chat platform."""

__version__ = "0.1.0"

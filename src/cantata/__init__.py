"""cantata — campaign orchestration over a relational store."""

__version__ = "0.1.0"

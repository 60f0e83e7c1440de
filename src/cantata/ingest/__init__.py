"""Ingestion: files and CDC batches into entity tables, bad rows into a quarantine file."""

from cantata.ingest.load import IngestResult, ingest_file

__all__ = ["IngestResult", "ingest_file"]

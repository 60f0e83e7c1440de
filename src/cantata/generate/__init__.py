"""Sample data generators."""

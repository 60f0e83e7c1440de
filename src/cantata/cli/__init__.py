"""The `cantata` command line."""

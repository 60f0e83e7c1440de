"""Activity types: settings schemas and checks (`catalog.CATALOG` lists them all)."""

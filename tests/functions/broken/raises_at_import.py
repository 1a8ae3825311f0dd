raise RuntimeError("failed during import")

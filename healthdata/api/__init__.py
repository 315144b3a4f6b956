"""The data API under /api/v1/: records, sessions, aggregates, summary, registry, sources, goals."""

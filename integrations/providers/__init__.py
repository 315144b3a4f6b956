"""Data sources: `base.DataSource` and one folder per provider (see docs/integrations.md)."""

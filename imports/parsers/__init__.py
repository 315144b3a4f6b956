"""Pure file parsers: a file in, normalized RecordIn / SessionIn out. No database, no settings."""

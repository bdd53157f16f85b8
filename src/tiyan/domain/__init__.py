"""Pure types of tiyan: the canonical data model and the error tree (no I/O)."""

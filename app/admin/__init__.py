"""Administration: the audit log, grid levels and kinds."""

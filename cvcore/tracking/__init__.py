"""cvcore.tracking."""

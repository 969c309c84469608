"""cvcore.classification."""

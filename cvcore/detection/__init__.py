"""cvcore.detection."""

"""cvcore.training."""

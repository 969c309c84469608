"""cvcore.segmentation."""

"""cvcore.classification: folder-per-class image classification.

- :mod:`.data`: class folders, stratified split (``split.json``), datasets and transforms
- :mod:`.models`: the report's ConvNet and ResNet-18 with a new head
- :mod:`.losses`: label-smoothed and Gaussian cross-entropy
"""

"""cvcore.segmentation: semantic segmentation on CamVid.

- :mod:`.camvid`: both CamVid layouts, every image and label checked up front, label cache
- :mod:`.masks`: class_dict.csv and the Numba colour lookup
- :mod:`.metrics`: IoU, Dice, precision, recall, per-image mIoU, majority baseline
- :mod:`.models`: SegNet (VGG16-BN encoder with pooling indices) and DeepLabV3-ResNet50
"""

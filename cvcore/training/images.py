"""Image decoding and the ImageNet statistics shared by the training datasets (folder-per-class
images, CamVid) and the figures that show their inputs.

Every training image goes through :func:`to_rgb`, so 16-bit and unusual PNG/TIFF modes mean the
same thing to classification and segmentation.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# torchvision's ImageNet normalisation (the pretrained ResNet/VGG/DeepLabV3 weights expect it).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of ``image``. 16-bit greyscale (PIL modes ``I;16*``, and ``I``, which is
    how PIL reads 16-bit PNG/TIFF greyscale) keeps its top 8 bits (``>> 8``, 0..65535 ->
    0..255): PIL's own ``convert`` clips those values at 255 and turns them white. Other
    modes (palette, greyscale, RGBA, CMYK, 1-bit) convert as PIL does; 16-bit RGB PNGs already
    arrive as 8-bit RGB. Float images (mode ``F``) have no agreed range: ``ValueError``."""
    if image.mode.startswith("I"):
        pixels = np.asarray(image).astype(np.int64)  # I;16B is big-endian: as values, not bytes
        return Image.fromarray((np.clip(pixels, 0, 65535) >> 8).astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        raise ValueError("32-bit float images are not supported (save 8- or 16-bit)")
    return image.convert("RGB")

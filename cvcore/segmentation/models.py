"""Segmentation models: SegNet (VGG16-BN encoder + the reference report's decoder) and
torchvision's DeepLabV3-ResNet50 with a new final layer.

Pretrained weights come from ``--weights`` or the torch hub cache, never from the network here:
``vgg16_bn-6c64b313.pth`` (ImageNet, SegNet's encoder) and
``deeplabv3_resnet50_coco-cd0a2569.pth`` (COCO-VOC, DeepLabV3).
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from ..errors import InputError
from ..training.weights import load_into, pretrained_weights

VGG16_BN_FILE = "vgg16_bn-6c64b313.pth"
DEEPLABV3_FILE = "deeplabv3_resnet50_coco-cd0a2569.pth"
SEG_MODELS = ("segnet", "deeplabv3")
# Smallest input side: SegNet's five 2x2 max-pools need 32 pixels to leave a 1x1 map (33 x 17
# fails in the fifth pool); DeepLabV3's strided convolutions pad, so any size >= 1 runs.
MIN_SIDE = {"segnet": 32, "deeplabv3": 1}
# Smallest training batch: DeepLabV3's ASPP pools each image to 1x1 and then applies BatchNorm,
# which needs more than one value per channel in training mode (PyTorch raises on one image).
MIN_TRAIN_BATCH = {"segnet": 1, "deeplabv3": 2}


class VGG16BNEncoder(nn.Module):
    """torchvision's VGG16-BN ``features`` split into its five conv stages; each stage's
    max-pool returns its indices (for unpooling) and the encoder returns the pre-pool sizes."""

    def __init__(self):
        super().__init__()
        from torchvision.models import vgg16_bn

        self.features = vgg16_bn().features
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                layer.return_indices = True

    def forward(self, x):
        indices, sizes = [], []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                sizes.append(x.size())
                x, ind = layer(x)
                indices.append(ind)
            else:
                x = layer(x)
        return x, indices, sizes


class SegNetDecoder(nn.Module):
    """The reference report's SegNet decoder, layer for layer (BatchNorm momentum 0.5, nearest
    interpolation when a stage's size differs from the next indices' size).

    One fix: unpooling gets the encoder's pre-pool ``sizes`` as ``output_size``. The report's
    decoder takes ``sizes`` but ignores them; MaxUnpool2d then assumes even sizes and, where a
    pooled map had an odd width (any input width not divisible by 32, e.g. 240), reads the
    flat indices with the wrong row length: values land in the wrong place or it fails with
    "invalid max index". At 480x360 (widths 480 ... 30 all even) both give the same result."""

    def __init__(self, in_chn: int = 3, out_chn: int = 32, BN_momentum: float = 0.5):  # noqa: N803
        super().__init__()
        self.in_chn, self.out_chn = in_chn, out_chn
        self.MaxDe = nn.MaxUnpool2d(2, stride=2)
        spec = {"5": [(512, 512), (512, 512), (512, 512)], "4": [(512, 512), (512, 512),
                                                                (512, 256)],
                "3": [(256, 256), (256, 256), (256, 128)], "2": [(128, 128), (128, 64)],
                "1": [(64, 64)]}
        for stage, convs in spec.items():
            for i, (cin, cout) in enumerate(convs, start=1):
                setattr(self, f"ConvDe{stage}{i}", nn.Conv2d(cin, cout, kernel_size=3, padding=1))
                setattr(self, f"BNDe{stage}{i}", nn.BatchNorm2d(cout, momentum=BN_momentum))
        self.ConvDe12 = nn.Conv2d(64, out_chn, kernel_size=3, padding=1)
        self._stages = {"5": 3, "4": 3, "3": 3, "2": 2, "1": 1}

    def forward(self, x, indices, sizes):
        order = zip("54321", indices[::-1], sizes[::-1], strict=True)
        for stage, ind, size in order:
            target = ind.size()
            if x.size() != target:  # the report's nearest-neighbour fix-up
                x = F.interpolate(x, size=(target[2], target[3]), mode="nearest")
            x = self.MaxDe(x, ind, output_size=size[-2:])
            for i in range(1, self._stages[stage] + 1):
                conv = getattr(self, f"ConvDe{stage}{i}")
                x = F.relu(getattr(self, f"BNDe{stage}{i}")(conv(x)))
        return self.ConvDe12(x)


class SegNet(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.encoder = VGG16BNEncoder()
        self.decoder = SegNetDecoder(3, num_classes)

    def forward(self, x):
        size = x.shape[-2:]
        features, indices, sizes = self.encoder(x)
        out = self.decoder(features, indices, sizes)
        if out.shape[-2:] != size:  # inputs not divisible by 32
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out


class DeepLabV3(nn.Module):
    """torchvision ``deeplabv3_resnet50`` returning the ``out`` logits tensor."""

    def __init__(self, num_classes: int, pretrained_state: dict | None = None, source=""):
        super().__init__()
        from torchvision.models.segmentation import deeplabv3_resnet50

        self.net = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21,
                                      aux_loss=True)
        if pretrained_state is not None:
            load_into(self.net, pretrained_state, source)
        self.net.aux_classifier = None
        self.net.classifier[-1] = nn.Conv2d(256, num_classes, kernel_size=1)

    def forward(self, x):
        return self.net(x)["out"]


def check_input_size(name: str, width: int, height: int) -> None:
    """Refuse an input size the network cannot run on (:data:`MIN_SIDE`)."""
    side = MIN_SIDE[name]
    if width < side or height < side:
        raise InputError(f"--img-size {width} {height}: {name} needs at least {side} x {side} "
                         "pixels" + (" (five 2x2 poolings)" if name == "segnet" else ""))


def build_segmenter(name: str, num_classes: int, pretrained: bool = False,
                    weights: str | None = None, freeze_encoder: bool = False) -> nn.Module:
    if name == "segnet":
        model = SegNet(num_classes)
        if pretrained:
            state = pretrained_weights(VGG16_BN_FILE, weights)
            features = {k[len("features."):]: v for k, v in state.items()
                        if k.startswith("features.")}
            load_into(model.encoder.features, features, weights or VGG16_BN_FILE)
        if freeze_encoder:
            for p in model.encoder.parameters():
                p.requires_grad_(False)
        return model
    if name == "deeplabv3":
        state = pretrained_weights(DEEPLABV3_FILE, weights) if pretrained else None
        model = DeepLabV3(num_classes, state, weights or DEEPLABV3_FILE)
        if freeze_encoder:
            for p in model.net.backbone.parameters():
                p.requires_grad_(False)
        return model
    raise InputError(f"unknown model {name!r}; choose from {', '.join(SEG_MODELS)}")


def trainable(model: nn.Module):
    return [p for p in model.parameters() if p.requires_grad]


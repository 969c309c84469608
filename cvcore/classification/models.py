"""Classification models: the report's scratch ConvNet and a fine-tuned torchvision ResNet-18.

Pretrained ImageNet weights are never downloaded here: ``--weights PATH`` or the torch hub cache
(``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth``) provides them; otherwise a one-line error
names the file to provide.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InputError
from ..training.weights import (
    hub_checkpoint,
    load_backbone,
    load_into,
    load_state_dict_file,
    pretrained_weights,
)

# Re-exported: train_segment and segment_models import them from here.
__all__ = ["ConvNet", "build_classifier", "penultimate_features", "hub_checkpoint", "load_into",
           "load_state_dict_file", "pretrained_weights", "MODELS", "RESNET18_FILE"]

MODELS = ("convnet", "resnet18")
RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision ResNet18_Weights.IMAGENET1K_V1


class ConvNet(nn.Module):
    """The report's ConvNet: three 3x3 conv + ReLU + max-pool blocks (pool 4, 2, 2) and one linear
    layer; the flattened size is 128 * s^2 with s = img_size // 4 // 2 // 2 (the pools floor),
    128 * 14 * 14 at 224 and 128 * 4 * 4 at 64."""

    def __init__(self, num_classes: int = 10, img_size: int = 224):
        super().__init__()
        side = img_size // 4 // 2 // 2
        if side < 1:
            raise InputError(f"ConvNet needs --img-size of at least 16, got {img_size}")
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3, stride=1, padding=1)
        self.pool1 = nn.MaxPool2d(kernel_size=4, stride=4)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1)
        self.pool3 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(128 * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = self.pool3(F.relu(self.conv3(x)))
        return self.fc(x.flatten(1))


def build_classifier(name: str, num_classes: int, img_size: int, pretrained: bool = False,
                     weights: str | None = None) -> nn.Module:
    """``convnet`` (from scratch) or ``resnet18`` with a new ``num_classes`` final layer.

    ``pretrained`` (implied by ``weights``) loads every ResNet-18 weight but the final layer from
    ``weights`` (torchvision's ImageNet file or one of our checkpoints) or the torch hub cache.
    """
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if name == "convnet":
        if pretrained or weights:
            raise InputError("the ConvNet is trained from scratch: --pretrained and --weights "
                             "apply to resnet18")
        return ConvNet(num_classes, img_size)
    from torchvision.models import resnet18

    model = resnet18()
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    if pretrained or weights:
        load_backbone(model, pretrained_weights(RESNET18_FILE, weights),
                      weights or hub_checkpoint(RESNET18_FILE), head_prefix="fc.")
    return model


def penultimate_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, the input of the final linear layer ``fc``) for one batch."""
    captured = []
    handle = model.fc.register_forward_hook(lambda m, inp, out: captured.append(inp[0]))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return logits, captured[0]

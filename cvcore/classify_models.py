"""Classification models: the report's scratch ConvNet and a fine-tuned torchvision ResNet-18.

Pretrained ImageNet weights are never downloaded here: ``--weights PATH`` or the torch hub cache
(``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth``) provides them; otherwise a one-line error
names the file to provide.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import InputError

MODELS = ("convnet", "resnet18")
RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision ResNet18_Weights.IMAGENET1K_V1


class ConvNet(nn.Module):
    """The report's ConvNet: three 3x3 conv + ReLU + max-pool blocks (pool 4, 2, 2) and one linear
    layer; the flattened size is 128 * (img_size / 16)^2 (128 * 14 * 14 at 224)."""

    def __init__(self, num_classes: int = 10, img_size: int = 224):
        super().__init__()
        if img_size % 16:
            raise InputError(f"ConvNet needs --img-size divisible by 16, got {img_size}")
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3, stride=1, padding=1)
        self.pool1 = nn.MaxPool2d(kernel_size=4, stride=4)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1)
        self.pool3 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(128 * (img_size // 16) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = self.pool3(F.relu(self.conv3(x)))
        return self.fc(x.flatten(1))


def hub_checkpoint(filename: str) -> Path:
    """Where torchvision would cache ``filename`` (``torch.hub.get_dir()/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def load_state_dict_file(path: str | os.PathLike) -> dict:
    """A state dict from a plain weights file or one of our checkpoints (``{"model": ...}``)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError("weights file not found", path) from None
    except Exception as err:
        raise InputError(f"cannot read weights ({type(err).__name__}: {err})", path) from None
    return data["model"] if isinstance(data, dict) and "model" in data else data


def pretrained_weights(filename: str, weights: str | None) -> dict:
    """State dict from ``weights`` or the torch hub cache, or a clear error naming the file."""
    path = Path(weights) if weights else hub_checkpoint(filename)
    if not path.is_file():
        raise InputError(f"pretrained weights not found; offline, download {filename} from "
                         f"https://download.pytorch.org/models/{filename} and put it there or "
                         "pass --weights PATH", path)
    return load_state_dict_file(path)


def load_into(model: nn.Module, state: dict, source: str | os.PathLike, strict: bool = True):
    """``model.load_state_dict`` with a one-line error when the weights are for another model."""
    try:
        return model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise InputError(f"weights do not fit {type(model).__name__} ({first[:160]})",
                         source) from None


def build_classifier(name: str, num_classes: int, img_size: int, pretrained: bool = False,
                     weights: str | None = None) -> nn.Module:
    """``convnet`` or ``resnet18`` (ImageNet weights when ``pretrained``, new final layer)."""
    if name == "convnet":
        return ConvNet(num_classes, img_size)
    if name != "resnet18":
        raise InputError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    from torchvision.models import resnet18

    model = resnet18()
    if pretrained:
        load_into(model, pretrained_weights(RESNET18_FILE, weights), weights or RESNET18_FILE)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
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

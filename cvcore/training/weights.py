"""Model weights from local files: pretrained ImageNet/COCO weights and our own checkpoints.

Nothing here downloads. Pretrained weights come from ``--weights PATH`` or from where torchvision
caches them (``torch.hub.get_dir()/checkpoints/<file>``, i.e. ``$TORCH_HOME/hub/checkpoints``,
default ``~/.cache/torch/hub/checkpoints``); offline without them a one-line error names the file
to provide and where to put it. Every load uses ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import InputError, one_line

# torch's weights-only refusal names the global it would have had to import (a function such as
# posix.system, or a class): "... unsupported GLOBAL posix.system whose module ..." or
# "Unsupported global: GLOBAL __main__.Evil was not an allowed global ...".
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def hub_checkpoint(filename: str) -> Path:
    """Where torchvision would cache ``filename`` (``torch.hub.get_dir()/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def load_file(path: str | os.PathLike, what: str = "weights file"):
    """``torch.load(path, weights_only=True)`` on the CPU, with one-line errors naming ``what``
    could not be found or read. A file whose pickle asks for anything but tensors and plain
    containers (code to run, a class to build) is refused before anything of it executes; the
    error names the refused global instead of torch's multi-paragraph advice to retry with
    ``weights_only=False``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise InputError(f"{what} expected, found a folder", path) from None
    except pickle.UnpicklingError as err:
        found = _REFUSED_GLOBAL.search(str(err))
        if found is None:
            reason = f"UnpicklingError: {_torch_detail(err)}"
        else:
            reason = f"refused to unpickle {found.group(1)}; not a plain weights file"
        raise InputError(f"cannot read {what} ({reason})", path) from None
    except Exception as err:
        raise InputError(f"cannot read {what} ({type(err).__name__}: {one_line(err)})",
                         path) from None


def _torch_detail(err: Exception) -> str:
    """The paragraph of torch's "Weights only load failed. <advice>\n\n<detail>\n\n<link>"
    message that says what went wrong; any other message's first line."""
    text = str(err)
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    if text.startswith("Weights only load failed") and len(paragraphs) > 1:
        return " ".join(paragraphs[1].split())
    return one_line(err)


def load_state_dict_file(path: str | os.PathLike) -> dict:
    """A state dict from a plain weights file or one of our checkpoints (``{"model": ...}``)."""
    data = load_file(path)
    state = data["model"] if isinstance(data, dict) and "model" in data else data
    if not isinstance(state, dict):
        raise InputError("not a state dict or a cvcore checkpoint", path)
    return state


def pretrained_weights(filename: str, weights: str | os.PathLike | None) -> dict:
    """State dict from ``weights`` or the torch hub cache, or a clear error naming the file."""
    path = Path(weights) if weights else hub_checkpoint(filename)
    if path.is_dir():
        raise InputError("weights file expected, found a folder", path)
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


def load_backbone(model: nn.Module, state: dict, source: str | os.PathLike,
                  head_prefix: str) -> None:
    """Load every weight except a replaced classification head (keys under ``head_prefix``)
    whose shape differs; anything else missing or unexpected is an error."""
    own = model.state_dict()
    kept = {k: v for k, v in state.items()
            if not (k.startswith(head_prefix) and k in own and own[k].shape != v.shape)}
    result = load_into(model, kept, source, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head_prefix)]
    if missing or result.unexpected_keys:
        keys = (missing or result.unexpected_keys)[:3]
        raise InputError(f"weights do not fit {type(model).__name__} "
                         f"({'missing' if missing else 'unexpected'} keys {', '.join(keys)} ...)",
                         source)

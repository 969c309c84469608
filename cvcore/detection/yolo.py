"""Ultralytics YOLO models from a ``.pt`` checkpoint or a model ``.yaml``, without running code
from the file unless the user says they trust it.

A ``.pt`` checkpoint is a pickle, and ultralytics unpickles it in full
(``torch.load(weights_only=False)``): a crafted file runs any code it likes while it loads.
:func:`load_model` without ``trust`` (the scripts' default; ``--trust-weights`` sets it):

1. lists the globals the checkpoint's pickle references, without unpickling it
   (``torch.serialization.get_unsafe_globals_in_checkpoint``), and refuses the file when one is
   outside the allowlist (:func:`allowed_global`): ``nn.Module`` classes of ``torch.nn`` and
   ``ultralytics.nn``, ultralytics' loss/assigner classes, and the data types ultralytics'
   checkpoints hold (:data:`DATA_GLOBALS`). The error names the global;
2. loads through torch's weights-only unpickler all the same: ultralytics' own restricted mode
   (``ULTRALYTICS_SAFE_LOAD``: ``weights_only=True`` with its allowlist, a ``getattr`` limited
   to module attributes, and model construction without ``eval()``) is switched on, and
   ``torch.load`` is forced to ``weights_only=True`` for the duration of the call, so no
   arbitrary callable can run whatever ultralytics does underneath.

Model ``.yaml`` configs need no trust: they are built in the same restricted mode (ultralytics
otherwise ``eval()``s a config's ``activation`` string). Other model formats (ONNX, TorchScript,
exported folders, remote servers) load only with ``trust``.

With ``trust`` the load is ultralytics' own. Either way ultralytics' log messages and warnings
are silenced while loading, so a failure is one ``error:`` line (:class:`InputError`).

:func:`coco_records` turns one image's ultralytics ``Results`` into COCO results records, as
ultralytics' own COCO-JSON export writes them: ``bbox`` xywh rounded to 3 decimals, ``score`` to
5, and for segmentation models (``task == "segment"``, e.g. yolov8n-seg) ``segmentation`` as
compressed RLE (``{"size": [h, w], "counts": str}``) of the mask at the original image size.
Predict with ``retina_masks=True`` for that (:data:`SEGMENT_PREDICT_ARGS`): ultralytics then
builds the masks at the original size (``process_mask_native``), where its default path would
upsample them from the letterboxed input.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError, one_line
from .rle import encode, to_strings

CONFIG_SUFFIXES = (".yaml", ".yml")
CHECKPOINT_SUFFIX = ".pt"
TRUST_HINT = "pass --trust-weights if you trust it"

# Non-module globals in ultralytics' checkpoints (the names its restricted loader accepts):
# its config namespace (today's and the pre-8.0.44 path), NumPy scalars/dtypes of logged
# metrics, saved paths, `getattr` (replaced by ultralytics' version limited to module attributes)
# and classification models' preprocessing transforms.
DATA_GLOBALS = frozenset({
    "ultralytics.utils.IterableSimpleNamespace",
    "ultralytics.yolo.utils.IterableSimpleNamespace",
    "numpy.dtype", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib._local.PosixPath",
    "pathlib._local.WindowsPath",
    "builtins.getattr",
    "torchvision.transforms.transforms.Compose", "torchvision.transforms.transforms.Normalize",
    "torchvision.transforms.transforms.Resize", "torchvision.transforms.transforms.CenterCrop",
    "torchvision.transforms.transforms.ToTensor",
    "torchvision.transforms.functional.InterpolationMode",
})
# Packages whose nn.Module classes a checkpoint may hold; ultralytics' helper-object modules.
MODULE_PACKAGES = ("torch.nn.modules", "ultralytics.nn")
HELPER_MODULES = ("ultralytics.utils.loss", "ultralytics.utils.tal")


def allowed_global(name: str) -> bool:
    """Whether a checkpoint may reference the global ``module.Name`` without trust.

    Only modules of the allowed packages are imported to look the name up (importing an
    arbitrary module named in a file would itself run code)."""
    if name in DATA_GLOBALS:
        return True
    module, _, attr = name.rpartition(".")
    in_package = any(module == p or module.startswith(p + ".") for p in MODULE_PACKAGES)
    if not (in_package or module in HELPER_MODULES) or not attr.isidentifier():
        return False
    try:
        obj = getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return False
    if not isinstance(obj, type):
        return False
    if in_package:
        import torch.nn as nn

        return issubclass(obj, nn.Module)
    return obj.__module__ == module  # defined there, not imported into it


def load_model(weights: str, trust: bool = False):
    """An ``ultralytics.YOLO`` from a checkpoint, a model config or (online) a released weights
    name; see the module docstring for what ``trust`` changes. Raises :class:`InputError`."""
    path = Path(weights)
    config = path.suffix in CONFIG_SUFFIXES
    if path.is_dir():
        raise InputError("is a directory, not a weights file", weights)
    if not trust and not config and path.suffix != CHECKPOINT_SUFFIX:
        raise InputError(f"only {CHECKPOINT_SUFFIX} checkpoints and .yaml model configs load "
                         f"without trust; {TRUST_HINT}", weights)
    downloading = not path.exists() and not config
    try:
        with quiet_ultralytics():  # importing ultralytics may log (its first-run settings file)
            if not trust and not config and path.is_file():
                refuse_unsafe_globals(path)
            with contextlib.nullcontext() if trust else _restricted():
                from ultralytics import YOLO

                return YOLO(weights)
    except InputError:
        raise
    except Exception as err:
        refused = _refused_global(err)
        if refused and not trust:
            raise InputError(_refusal(refused), weights) from None
        reason = (f"no {err.args[0]!r} entry" if isinstance(err, KeyError) and err.args
                  else re.sub(r"^ERROR\s*[\u274c\ufe0f]*\s*", "", one_line(err)))  # its prefix
        if downloading:  # online, ultralytics downloads its released weights by name
            raise InputError(f"weights file not found and could not be downloaded ({reason}); "
                             f"provide {path.name} locally and pass its path", weights) from None
        raise InputError(f"cannot load the model ({reason})", weights) from None


SEGMENT_PREDICT_ARGS = {"retina_masks": True}  # masks at the original image size


def is_segmentation_model(model) -> bool:
    """Whether an ``ultralytics.YOLO`` predicts instance masks (yolov8n-seg and the like)."""
    return getattr(model, "task", None) == "segment"


def coco_records(result, image_id: int, class_map: np.ndarray, masks: bool = False
                 ) -> list[dict]:
    """COCO results records (see the module docstring) of one image's ultralytics ``Results``.

    ``class_map``: int[C] COCO category id of each model class; ``masks``: add
    ``segmentation`` (the result must then come from a segmentation model predicting with
    :data:`SEGMENT_PREDICT_ARGS`; its masks are uint8 [N, H, W] at the original size)."""
    xyxy = result.boxes.xyxy.cpu().numpy().astype(np.float64)
    xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
    records = [{"image_id": image_id, "category_id": int(class_map[cls]), "bbox": box,
                "score": round(score, 5)}
               for box, score, cls in zip(xywh.round(3).tolist(),
                                          result.boxes.conf.cpu().numpy().tolist(),
                                          result.boxes.cls.cpu().numpy().astype(int).tolist(),
                                          strict=True)]
    if masks and records:
        pixels = result.masks.data.cpu().numpy().astype(np.uint8)  # [N, H, W]
        height, width = pixels.shape[1:]
        # COCO's RLE runs down the columns: masks as a Fortran-ordered [H, W, N] stack
        counts = to_strings(encode(np.asfortranarray(pixels.transpose(1, 2, 0))))
        for record, string in zip(records, counts, strict=True):
            record["segmentation"] = {"size": [height, width], "counts": string.decode()}
    return records


def check_device(device: str) -> None:
    """Raise :class:`InputError` unless ultralytics can run on ``device`` ("cpu", "0", "0,1")."""
    try:
        with quiet_ultralytics():  # importing ultralytics may log (its first-run settings file)
            from ultralytics.utils.torch_utils import select_device

            select_device(device, verbose=False)
    except Exception as err:
        raise InputError(f"--device {device}: {one_line(err)}") from None


def refuse_unsafe_globals(path: Path) -> None:
    """Raise :class:`InputError` when the checkpoint references a global outside the allowlist
    (read from the pickle's opcodes, nothing unpickled). Files that are not ``torch.save`` zip
    archives are left to the weights-only unpickler, which refuses them the same way."""
    import torch

    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except ValueError:  # not a zip checkpoint: a TorchScript archive, torch's legacy format...
        if not _legacy_checkpoint(path) and not zipfile.is_zipfile(path):
            raise InputError("not a PyTorch checkpoint (neither torch.save's zip format nor "
                             "its legacy one)", path) from None
        return
    except Exception as err:  # a damaged zip: torch's reader fails without naming the file
        raise InputError(f"not a readable PyTorch checkpoint ({one_line(err)})", path) from None
    for name in sorted(names):
        if not allowed_global(name):
            raise InputError(_refusal(name), path)


def _legacy_checkpoint(path: Path) -> bool:
    """Whether the file starts like torch.save's pre-1.6 format (a pickled magic number)."""
    import pickle

    import torch

    magic = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)[2:-1]  # its LONG1 opcode
    with open(path, "rb") as f:
        return magic in f.read(64)


def _refusal(name: str) -> str:
    return f"refusing to unpickle {name} (the file could run code); {TRUST_HINT}"


def _refused_global(err: BaseException) -> str | None:
    """The global torch's weights-only unpickler refused, found in ``err`` or its causes."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        match = re.search(r"GLOBAL ([\w.]+)", str(err))
        if match:
            return match.group(1)
        err = err.__cause__ or err.__context__
    return None


@contextlib.contextmanager
def _restricted() -> Iterator[None]:
    """Ultralytics' restricted loading on, and every ``torch.load`` weights-only, for the block."""
    import torch
    import ultralytics.nn.tasks as tasks

    safe_load = getattr(tasks, "_SafeLoad", None)
    if safe_load is None or not safe_load.SUPPORTED or not hasattr(tasks, "SAFE_LOAD"):
        raise InputError("this ultralytics/torch has no restricted (weights-only) loading; "
                         "upgrade them or pass --trust-weights")
    original_load, original_flag = torch.load, tasks.SAFE_LOAD

    def weights_only_load(*args, **kwargs):
        kwargs["weights_only"] = True
        return original_load(*args, **kwargs)

    torch.load, tasks.SAFE_LOAD = weights_only_load, True
    try:
        yield
    finally:
        torch.load, tasks.SAFE_LOAD = original_load, original_flag


@contextlib.contextmanager
def quiet_ultralytics() -> Iterator[None]:
    """Ultralytics' log messages and Python warnings off for the block: its multi-line messages
    and warnings must not precede (or replace) our one-line error."""
    logger = logging.getLogger("ultralytics")
    disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = disabled


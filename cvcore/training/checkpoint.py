"""Checkpoints: what ``last.pt`` / ``best.pt`` / ``epoch<N>.pt`` hold, how ``--resume`` finds
and restores one, and the RNG states that make a resumed run continue bit-identically.

Checkpoints are plain dicts (tensors, numbers, strings; arguments as :func:`plain_args`) so they
load with ``torch.load(weights_only=True)``: a checkpoint cannot run code. They hold the model
(unwrapped from DDP), optimiser, scheduler, AMP scaler, epochs done, best metric, model name,
RNG states and the ``results.csv`` rows so far (so rows a kill kept out of the table come back).
Everything here only reads, except :func:`save_checkpoint`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ..atomic import torch_save
from ..errors import InputError
from ..runs import RUNS_ROOT
from .distributed import unwrap
from .weights import load_file, load_into


def plain_args(args) -> dict:
    """``vars(args)`` with paths as strings: what checkpoints store (loads with weights_only)."""
    def plain(v):
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    return {k: plain(v) for k, v in vars(args).items()}


def rng_state() -> dict:
    """Every generator's state as tensors, numbers and tuples (loads with weights_only)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                      float(cached)],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "numpy" in state:
        keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos,  # noqa: NPY002
                             has_gauss, cached))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, model, optimizer, scheduler, scaler, epoch: int, best: float,
                    args: dict, model_name: str, results: dict | None = None) -> None:
    """``results``: ``results.csv`` up to ``epoch`` (``ResultsCSV.snapshot()``), so a resume can
    restore the rows of a run killed between this save and the CSV's."""
    torch_save({"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "epoch": int(epoch), "best": float(best), "args": args, "model_name": model_name,
                "rng": rng_state(), "results": results}, path)


def load_checkpoint(path: str | os.PathLike, model_name: str) -> dict:
    """A checkpoint dict, checked to be one of ours and for ``model_name``."""
    ckpt = load_file(path, "checkpoint")
    if not isinstance(ckpt, dict) or "model" not in ckpt or "epoch" not in ckpt:
        raise InputError("not a cvcore training checkpoint", path)
    if ckpt.get("model_name") != model_name:
        raise InputError(f"checkpoint is for model {ckpt.get('model_name')!r}, not "
                         f"{model_name!r}", path)
    return ckpt


def load_weights(model, path: str | os.PathLike, model_name: str) -> dict:
    """Put a checkpoint's weights into ``model`` (e.g. ``best.pt`` for the final evaluation,
    ``--weights`` for a test-only run); returns the checkpoint."""
    ckpt = load_checkpoint(path, model_name)
    load_into(unwrap(model), ckpt["model"], path)
    return ckpt


def resume(path: str | os.PathLike, model, optimizer, scheduler=None, scaler=None,
           model_name: str = "") -> tuple[int, float]:
    """Restore model, optimiser, scheduler, AMP scaler and RNG states from ``path`` (before
    wrapping the model in DDP); returns (epochs done, best metric). Every part is checked to fit
    (a one-line InputError naming ``path`` otherwise)."""
    ckpt = load_weights(model, path, model_name)
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError) as err:
        raise InputError(f"optimiser state does not fit ({err})", path) from None
    if scheduler is not None:
        if ckpt.get("scheduler") is None:
            raise InputError("checkpoint has no scheduler state (trained with --sched none?)",
                             path)
        load_scheduler(scheduler, ckpt["scheduler"], path)
    if scaler is not None and ckpt.get("scaler") is not None:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return int(ckpt["epoch"]), float(ckpt["best"])


def load_scheduler(scheduler, state: dict, path: str | os.PathLike) -> None:
    """Restore a scheduler's step count and state. A schedule sized in steps (OneCycleLR's
    ``total_steps``) keeps the size the resumed run built, so ``--resume`` with more
    ``--epochs`` stretches the one cycle over the new total and continues from the step the
    checkpoint reached (the learning rate follows the new curve from there); a checkpoint
    already past the new total is refused."""
    sized = {key: getattr(scheduler, key) for key in ("total_steps", "_schedule_phases")
             if hasattr(scheduler, key)}
    try:
        scheduler.load_state_dict(state)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"scheduler state does not fit ({err})", path) from None
    if not sized:
        return
    scheduler.__dict__.update(sized)
    if scheduler.last_epoch > scheduler.total_steps:
        raise InputError(f"the one-cycle schedule has done {scheduler.last_epoch} steps, more "
                         f"than the {scheduler.total_steps} of the resumed run (fewer --epochs "
                         "or a larger --batch-size?)", path)
    # The optimiser came back with the old curve's learning rate and momentum: redo the last
    # step on the new curve so the next batch already uses it.
    scheduler.last_epoch -= 1
    scheduler.step()


def latest_checkpoint(task: str, root: str | os.PathLike = RUNS_ROOT) -> Path | None:
    """The most recently written ``root/task/*/last.pt`` (what a bare ``--resume`` continues)."""
    found = sorted(Path(root, task).glob("*/last.pt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def resume_checkpoint(task: str, args) -> Path | None:
    """The checkpoint ``--resume`` asks for (None without ``--resume``); no side effects.

    ``--resume PATH`` is that checkpoint; a bare ``--resume`` is ``--out``'s ``last.pt`` or else
    the newest ``runs/<task>/*/last.pt``. A missing checkpoint is an InputError, except that a
    bare ``--resume`` of an ``--out`` run directory (it has ``args.yaml``) killed before its
    first checkpoint has nothing to continue: None, the run starts again from epoch 0 there.
    """
    resume_arg = getattr(args, "resume", False)
    if not resume_arg:
        return None
    if resume_arg is not True:
        ckpt = Path(resume_arg)
    elif getattr(args, "out", None):
        ckpt = Path(args.out) / "last.pt"
        if not ckpt.exists() and (ckpt.parent / "args.yaml").is_file():
            return None
    else:
        ckpt = latest_checkpoint(task) or RUNS_ROOT / task / "*" / "last.pt"
    if ckpt.is_dir():
        raise InputError("--resume expects a checkpoint file (last.pt), not a folder", ckpt)
    if not ckpt.is_file():
        raise InputError("nothing to resume: checkpoint not found", ckpt)
    return ckpt

"""The training engine shared by train_classify.py and train_segment.py.

Plain PyTorch, task-agnostic: a model mapping ``x`` to logits ``[N, K, ...]``, a loss on
``(logits, target)``, and targets that are class indices ``[N, ...]`` (an image label or a
label map). Per epoch it trains, evaluates (loss and a K x K confusion matrix of argmax
predictions, summed over ranks), saves ``epoch<N>.pt`` (every ``save_period`` epochs),
``best.pt`` (by a chosen metric) and ``last.pt``, and only then adds the epoch's row to
``results.csv``.

Checkpoints are plain dicts (tensors, numbers, strings; arguments as ``vars(args)``) so they load
with ``torch.load(weights_only=True)``; they hold the model, optimiser, scheduler, AMP scaler,
epoch, best metric, the RNG states and the results table so far, so ``--resume`` continues where
``last.pt`` left off. A run killed at any instant resumes from the last saved epoch:
``results.csv`` rows of the redone epochs are dropped and a row the kill kept out of the table
comes back from ``last.pt``, so the table stays continuous. A run killed before its first
``last.pt`` restarts from epoch 0 with ``--resume --out DIR``. A resumed run rewrites
``args.yaml`` with the arguments it continues with.

Every numeric option the scripts share is range-checked first (:func:`validate_args`, e.g.
``error: --batch-size: must be >= 1, got 0``).

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel
(``gloo`` on CPU, ``nccl`` on CUDA), training data goes through a DistributedSampler and
evaluation data through an unpadded :class:`ShardSampler` (:func:`make_loader`), losses and
confusion matrices are all-reduced (so validation numbers count every sample exactly once), and
only rank 0 writes. AMP (float16 autocast + GradScaler) is used on CUDA.

The scheduler, if any, steps after every batch (size it in steps: OneCycleLR with
``steps_per_epoch=len(train_loader)``). An epoch's loss is the sample-weighted mean of the batch
losses.

API (what a training script calls, in order)::

    d = start(args)            # checks arguments; --threads, torchrun, device (Dist), seeds
    resume_from = resume_checkpoint("segment", args)    # None unless --resume; it exists
    ...                                                # read and validate the data, model
    train_loader = make_loader(train_set, bs, workers, d, train=True, seed=args.seed)
    val_loader = make_loader(val_set, bs, workers, d, train=False)
    model, optimizer, scheduler, scaler = ...          # scaler: amp_scaler(d)
    start_epoch, best = resume(resume_from, model, optimizer, scheduler, scaler, args.model) \
        if resume_from else (0, -math.inf)             # checks the checkpoint fits
    # only now, every input valid: nothing is written before this line
    run_dir, resume_from = resolve_run_dir("segment", args, d)   # rank 0: dir + args.yaml
    model = wrap_ddp(model, d)
    cfg = Fit(loss_fn, optimizer, scheduler, epochs, num_classes, run_dir, plain_args(args),
              model_name, best_key="val_miou", ignore_index=255, save_period=0,
              epoch_metrics=lambda cm: {"val_miou": ...},   # val confusion -> extra columns
              train_metrics=None, loggers=make_loggers(args, run_dir, "project"))
    best = fit(model, train_loader, val_loader, cfg, d, start_epoch, best, scaler)
    close_loggers(cfg.loggers); cleanup_distributed(d)

``results.csv`` columns: ``epoch, train_loss, train_acc, [train_metrics(cm)], val_loss,
val_acc, [epoch_metrics(cm)], lr`` (lr at the start of the epoch); accuracy is the trace of the
confusion matrix over its sum (pixel accuracy for label maps, ``ignore_index`` left out).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..atomic import torch_save
from ..confusion import confusion_matrix
from ..errors import InputError
from ..runs import RUNS_ROOT, ResultsCSV, make_run_dir, save_args
from .weights import load_file, load_into


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> Dist:
    """Join the torchrun process group when launched by torchrun; pick the device.

    ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; asking for
    CUDA on a machine without it is an error, not a silent fall-back to the CPU. Under torchrun
    each process takes the GPU of its ``LOCAL_RANK``.
    """
    if device not in ("auto", "cpu", "cuda") and not (
            device.startswith("cuda:") and device[5:].isdigit()):
        raise InputError(f"unknown --device {device!r} (auto, cpu, cuda, cuda:N)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine "
                         "(use --device cpu)")
    cuda = torch.cuda.is_available() and device != "cpu"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
        return Dist(dist.get_rank(), world, local,
                    torch.device(f"cuda:{local}" if cuda else "cpu"))
    return Dist(device=torch.device(("cuda" if device == "auto" else device) if cuda else "cpu"))


# The numeric options the training scripts share: attribute -> (lowest allowed value, whether
# that value itself is allowed, highest value or None, whether it is allowed). An option a script
# does not have, or leaves at None (e.g. --lr meaning "the model's default"), is not checked.
ARG_RANGES = {
    "epochs": (1, True, None, False),
    "batch_size": (1, True, None, False),
    "workers": (0, True, None, False),
    "threads": (0, True, None, False),
    "img_size": (1, True, None, False),
    "lr": (0, False, None, False),
    "weight_decay": (0, True, None, False),
    "label_smoothing": (0, True, 1, False),
    "val_frac": (0, False, 1, False),
    "save_period": (0, True, None, False),
    "limit": (1, True, None, False),
    "seed": (0, True, 2**32 - 1, True),  # NumPy's seed range
}


def validate_args(args) -> None:
    """Refuse out-of-range numeric options (see ``ARG_RANGES``) and optional loggers whose
    package is missing, before anything is read or written: ``--batch-size: must be >= 1, got
    0`` as an InputError (``error: --batch-size: ...``, exit 2 under ``run_cli``)."""
    for name, (low, low_ok, high, high_ok) in ARG_RANGES.items():
        value = getattr(args, name, None)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is None or isinstance(v, bool):
                continue
            flag = "--" + name.replace("_", "-")
            if not math.isfinite(v):
                raise InputError(f"must be a finite number, got {v}", flag)
            if v < low or (v == low and not low_ok):
                raise InputError(f"must be {'>=' if low_ok else '>'} {low}, got {v}", flag)
            if high is not None and (v > high or (v == high and not high_ok)):
                raise InputError(f"must be {'<=' if high_ok else '<'} {high}, got {v}", flag)
    check_loggers(args)


def start(args) -> Dist:
    """What every training script does first: check the arguments (:func:`validate_args`), CPU
    threads (``--threads``, 0 keeps torch's default), the process group under torchrun and the
    device, and the seeds."""
    validate_args(args)
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    d = init_distributed(args.device)
    seed_everything(args.seed)
    return d


def cleanup_distributed(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed the generators training uses (torch: init, shuffling, transforms; Python; NumPy)."""
    random.seed(seed)
    # The legacy global NumPy generator: third-party transforms (albumentations, ...) draw from it.
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)


def wrap_ddp(model: torch.nn.Module, d: Dist) -> torch.nn.Module:
    """DistributedDataParallel under torchrun, the model itself otherwise."""
    if not d.enabled:
        return model
    ids = [d.device.index] if d.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def amp_scaler(d: Dist):
    """A GradScaler on CUDA (float16 autocast in :func:`fit`), None on CPU (no AMP)."""
    return torch.amp.GradScaler("cuda") if d.device.type == "cuda" else None


class ShardSampler(torch.utils.data.Sampler):
    """Evaluation under DDP: rank r takes indices r, r + W, r + 2W, ... with no padding, so the
    all-reduced counts cover every sample exactly once (DistributedSampler pads with repeats)."""

    def __init__(self, length: int, rank: int, world_size: int):
        self.indices = range(rank, length, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(dataset, batch_size: int, workers: int, d: Dist, train: bool, seed: int = 0,
                **kwargs) -> torch.utils.data.DataLoader:
    """A DataLoader for training (shuffled; a DistributedSampler under DDP; the last partial
    batch dropped when there is more than one batch) or evaluation (in order; sharded without
    padding under DDP). Extra ``kwargs`` go to the DataLoader (e.g. ``collate_fn``)."""
    from torch.utils.data import DataLoader, DistributedSampler

    if train:
        sampler = DistributedSampler(dataset, seed=seed) if d.enabled else None
        per_rank = len(sampler) if sampler is not None else len(dataset)
        kwargs.setdefault("drop_last", per_rank > batch_size)
    else:
        sampler = ShardSampler(len(dataset), d.rank, d.world_size) if d.enabled else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=train and sampler is None,
                      sampler=sampler, num_workers=workers, pin_memory=d.device.type == "cuda",
                      persistent_workers=workers > 0, **kwargs)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def _all_reduce(values: np.ndarray, d: Dist) -> np.ndarray:
    if not d.enabled:
        return values
    t = torch.as_tensor(values, dtype=torch.float64 if values.dtype.kind == "f" else torch.int64)
    dist.all_reduce(t)
    return t.numpy()


def _batch_confusion(logits: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int, out: np.ndarray) -> None:
    pred = logits.argmax(1).cpu().numpy()
    confusion_matrix(target.cpu().numpy(), pred, num_classes, ignore_index, out)


def train_one_epoch(model, loader, loss_fn, optimizer, d: Dist, epoch: int, epochs: int,
                    num_classes: int, scheduler=None, scaler=None, ignore_index: int = -100,
                    ) -> dict[str, float]:
    """One pass over ``loader``; ``scheduler`` (if given) steps every batch (OneCycleLR)."""
    model.train()
    cm = np.zeros((num_classes, num_classes), np.int64)
    loss_sum = np.zeros(2)  # (sum of batch losses * batch size, samples)
    bar = tqdm(loader, desc=f"Epoch {epoch + 1}/{epochs} [Train]", disable=not d.is_main,
               leave=False)
    for x, y in bar:
        x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
        with torch.autocast(d.device.type, dtype=torch.float16, enabled=scaler is not None):
            logits = model(x)
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += (loss.item() * len(x), len(x))
        _batch_confusion(logits.detach(), y, num_classes, ignore_index, cm)
        bar.set_postfix(loss=f"{loss_sum[0] / loss_sum[1]:.4f}",
                        acc=f"{np.trace(cm) / max(cm.sum(), 1):.4f}")
    loss_sum, cm = _all_reduce(loss_sum, d), _all_reduce(cm, d)
    return {"loss": loss_sum[0] / max(loss_sum[1], 1), "acc": np.trace(cm) / max(cm.sum(), 1),
            "confusion": cm}


@torch.no_grad()
def evaluate(model, loader, loss_fn, d: Dist, num_classes: int, ignore_index: int = -100,
             desc: str = "Val", on_batch: Callable | None = None) -> tuple[dict, np.ndarray]:
    """Loss, accuracy and the confusion matrix (rows truth) over ``loader``, summed over ranks.
    ``on_batch(x, logits, y)`` sees every batch (e.g. to keep predictions for figures). A DDP
    model is evaluated unwrapped: ranks may hold different numbers of batches (ShardSampler)."""
    model = unwrap(model)
    model.eval()
    cm = np.zeros((num_classes, num_classes), np.int64)
    loss_sum = np.zeros(2)
    for x, y in tqdm(loader, desc=desc, disable=not d.is_main, leave=False):
        x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
        with torch.autocast(d.device.type, dtype=torch.float16, enabled=d.device.type == "cuda"):
            logits = model(x)
            loss = loss_fn(logits, y)
        loss_sum += (loss.item() * len(x), len(x))
        _batch_confusion(logits, y, num_classes, ignore_index, cm)
        if on_batch is not None:
            on_batch(x, logits.float(), y)
    loss_sum, cm = _all_reduce(loss_sum, d), _all_reduce(cm, d)
    return {"loss": loss_sum[0] / max(loss_sum[1], 1), "acc": np.trace(cm) / max(cm.sum(), 1)}, cm


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


def resume(path: str | os.PathLike, model, optimizer, scheduler=None, scaler=None,
           model_name: str = "") -> tuple[int, float]:
    """Restore model, optimiser, scheduler, AMP scaler and RNG states from ``path`` (before
    wrapping the model in DDP); returns (epochs done, best metric) for :func:`fit`."""
    ckpt = load_checkpoint(path, model_name)
    load_into(unwrap(model), ckpt["model"], path)
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


def resolve_run_dir(task: str, args, d: Dist) -> tuple[Path | None, Path | None]:
    """(run directory on rank 0 else None, checkpoint to resume from or None).

    Resuming continues in the checkpoint's directory (see :func:`resume_checkpoint`) and writes
    nothing here (:func:`fit` rewrites ``args.yaml`` once the checkpoint has been restored); a
    new run gets a fresh ``runs/<task>/<name>N`` (or ``--out``) with ``args.yaml``. Call it
    once every input (data, model, weights, the resume checkpoint) is validated, so a failed
    start leaves no run directory and a failed resume changes nothing.
    """
    ckpt = resume_checkpoint(task, args)
    if ckpt is not None:
        return (ckpt.parent if d.is_main else None), ckpt
    if not d.is_main:
        return None, None
    if getattr(args, "resume", False):
        print(f"{args.out} has no checkpoint yet (stopped in its first epoch): starting it again "
              "from epoch 0")
    run_dir = make_run_dir(task, getattr(args, "name", "exp"), getattr(args, "out", None))
    save_args(run_dir, args)
    return run_dir, None


@dataclass
class Fit:
    """What :func:`fit` needs besides the model and data."""

    loss_fn: Callable
    optimizer: torch.optim.Optimizer
    scheduler: Any
    epochs: int
    num_classes: int
    run_dir: Path | None          # None on ranks other than 0
    args: dict
    model_name: str
    best_key: str = "val_acc"     # column of results.csv that selects best.pt
    ignore_index: int = -100
    save_period: int = 0          # also keep epoch<N>.pt every N epochs (0: never)
    epoch_metrics: Callable[[np.ndarray], dict] | None = None  # val confusion -> extra columns
    loggers: tuple = ()
    train_metrics: Callable[[np.ndarray], dict] | None = None  # train confusion -> columns
    best_mode: str = "max"        # "max": higher best_key is better; "min": lower (a loss)


def fit(model, train_loader, val_loader, cfg: Fit, d: Dist, start_epoch: int = 0,
        best: float = -math.inf, scaler=None) -> float:
    """Train from ``start_epoch`` to ``cfg.epochs``; returns the best value of ``cfg.best_key``
    (``best`` is that value so far, as :func:`resume` returns it; with ``best_mode="min"`` pass
    ``math.inf`` for a new run).

    Rank 0 first (re)writes ``args.yaml`` with ``cfg.args`` (a resumed run records the
    arguments it continues with) and makes ``results.csv`` hold exactly epochs 1..start_epoch.
    Per epoch it saves ``epoch<N>.pt``, ``best.pt``, then ``last.pt`` (the resume point) and
    only then adds the epoch's row to ``results.csv``: a kill at any instant leaves a
    ``last.pt`` that is never behind the table, and the rows it is ahead by come back from the
    checkpoint on resume."""
    if cfg.best_mode not in ("max", "min"):
        raise ValueError(f"best_mode must be 'max' or 'min', not {cfg.best_mode!r}")
    if start_epoch > cfg.epochs:
        raise InputError(f"must be at least the {start_epoch} epochs the resumed checkpoint "
                         f"has done, got {cfg.epochs}", "--epochs")
    sign = 1.0 if cfg.best_mode == "max" else -1.0
    csv = _results_table(cfg.run_dir, start_epoch) if d.is_main else None
    if d.is_main:
        save_args(cfg.run_dir, cfg.args)
    for epoch in range(start_epoch, cfg.epochs):
        sampler = getattr(train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        lr = cfg.optimizer.param_groups[0]["lr"]
        train = train_one_epoch(model, train_loader, cfg.loss_fn, cfg.optimizer, d, epoch,
                                cfg.epochs, cfg.num_classes, cfg.scheduler, scaler,
                                cfg.ignore_index)
        val, cm = evaluate(model, val_loader, cfg.loss_fn, d, cfg.num_classes, cfg.ignore_index,
                           desc=f"Epoch {epoch + 1}/{cfg.epochs} [Val]")
        row = {"epoch": epoch + 1, "train_loss": train["loss"], "train_acc": train["acc"],
               **(cfg.train_metrics(train["confusion"]) if cfg.train_metrics else {}),
               "val_loss": val["loss"], "val_acc": val["acc"],
               **(cfg.epoch_metrics(cm) if cfg.epoch_metrics else {}), "lr": lr}
        if not d.is_main:
            continue
        print(f"[Epoch {epoch + 1}/{cfg.epochs}] Train Loss: {train['loss']:.4f}, "
              f"Train Acc: {train['acc']:.4f} | Val Loss: {val['loss']:.4f}, "
              f"Val Acc: {val['acc']:.4f}")
        csv.add(row)
        value = float(row[cfg.best_key])
        is_best = not math.isnan(value) and sign * value > sign * best
        best = value if is_best else best
        state = (model, cfg.optimizer, cfg.scheduler, scaler, epoch + 1, best, cfg.args,
                 cfg.model_name, csv.snapshot())
        if cfg.save_period and (epoch + 1) % cfg.save_period == 0:
            save_checkpoint(cfg.run_dir / f"epoch{epoch + 1}.pt", *state)
        if is_best:
            save_checkpoint(cfg.run_dir / "best.pt", *state)
        save_checkpoint(cfg.run_dir / "last.pt", *state)  # the resume point, before the table
        csv.flush()
        for logger in cfg.loggers:
            logger.log(row)
    return best


def _results_table(run_dir: Path, start_epoch: int) -> ResultsCSV:
    """``results.csv`` holding exactly epochs 1..start_epoch: rows of epochs being redone are
    dropped; rows missing because a kill fell between ``last.pt`` and the table (or because the
    table was lost) come back from ``last.pt`` when it is the checkpoint of ``start_epoch``."""
    csv = ResultsCSV(run_dir / "results.csv")
    csv.truncate(start_epoch)
    if csv.keys() != list(range(1, start_epoch + 1)):
        last = run_dir / "last.pt"
        ckpt = load_file(last, "checkpoint") if last.is_file() else None
        saved = ckpt.get("results") if isinstance(ckpt, dict) else None
        if saved and ckpt.get("epoch") == start_epoch:
            csv.restore(saved)
            csv.truncate(start_epoch)
        if csv.keys() != list(range(1, start_epoch + 1)):
            print(f"warning: {csv.path} misses rows of epochs 1..{start_epoch}; they cannot be "
                  "recovered")
    return csv


class WandbLogger:
    """Optional Weights & Biases logging; offline (no network) unless WANDB_MODE says otherwise."""

    def __init__(self, run_dir: Path, project: str, config: dict):
        try:
            import wandb
        except ImportError:
            raise InputError("--wandb needs the wandb package (pip install wandb)") from None
        os.environ.setdefault("WANDB_MODE", "offline")
        self.run = wandb.init(project=project, name=run_dir.name, dir=str(run_dir), config=config)

    def log(self, row: dict) -> None:
        self.run.log(row)

    def close(self) -> None:
        self.run.finish()


class TensorBoardLogger:
    """Optional TensorBoard scalars in ``<run_dir>/tensorboard``."""

    def __init__(self, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise InputError("--tensorboard needs the tensorboard package "
                             "(pip install tensorboard)") from None
        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def log(self, row: dict) -> None:
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def check_loggers(args) -> None:
    """The packages ``--wandb`` / ``--tensorboard`` need are importable (checked at start, so a
    missing one stops the run before it creates its directory)."""
    needs = {"wandb": ("wandb", "wandb"), "tensorboard": ("torch.utils.tensorboard",
                                                         "tensorboard")}
    for flag, (module, package) in needs.items():
        if getattr(args, flag, False):
            try:
                __import__(module)
            except ImportError:
                raise InputError(f"--{flag} needs the {package} package "
                                 f"(pip install {package})") from None


def make_loggers(args, run_dir: Path | None, project: str) -> tuple:
    if run_dir is None:
        return ()
    loggers = []
    if getattr(args, "wandb", False):
        loggers.append(WandbLogger(run_dir, project, plain_args(args)))
    if getattr(args, "tensorboard", False):
        loggers.append(TensorBoardLogger(run_dir))
    return tuple(loggers)


def close_loggers(loggers) -> None:
    for logger in loggers:
        logger.close()


def plain_args(args) -> dict:
    """``vars(args)`` with paths as strings: what checkpoints store (loads with weights_only)."""
    def plain(v):
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    return {k: plain(v) for k, v in vars(args).items()}

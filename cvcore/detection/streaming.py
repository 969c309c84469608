"""COCO AP during a training loop: detections added batch by batch, gathered over torchrun ranks.

``StreamingCocoEval(gt, iou_type)`` is used the way torchmetrics' ``MeanAveragePrecision`` or
hotcoco's ``StreamingEval`` are: ``update(image_ids, values, scores, labels)`` once per validation
batch with the model's output as NumPy arrays or torch tensors (copied to the CPU), one row per
detection; ``sync()`` under torch.distributed; ``compute()`` -> :class:`~.cocoeval.CocoEvalResult`;
``reset()`` before the next epoch.

``values`` is, by ``iou_type``:

- 'bbox': float[N, 4] boxes in pixels, COCO's ``xywh`` or, with ``box_format="xyxy"``, corners;
- 'segm': an :class:`~.rle.Rles` of N masks or dense bool/uint8 masks [N, H, W] (0/1), run-length
  encoded on arrival (:func:`.rle.encode`), never kept dense; each mask has its image's size;
- 'keypoints': float[N, K, 3] or [N, 3K] (x, y, visibility), K the category's number of keypoint
  names.

The detections get the fields loading a results file gives them (pycocotools' ``loadRes`` rules
as :mod:`.coco` applies them): a box's area is ``w * h``; a mask's area is its pixel count and
its box ``toBbox``; keypoints' box and area span all their keypoints. ``compute()`` is
:func:`.cocoeval.evaluate` on all updates concatenated in order (after ``sync()``: rank 0's, then
rank 1's, ...), so its numbers are exactly the batch evaluation's, pycocotools' to the last bit.
Detections are stored as a few flat arrays (masks as their runs), never as Python objects or JSON.

Speed (2 cores): 5000 images, 100k boxes in 313 updates of 16 images take ~0.05 s to add and
~0.3 s to compute, as evaluate() alone (pycocotools: ~30-45 s); 10k dense 240 x 320 masks (768 MB
as bool) take ~0.5 s to encode in 63 updates and are kept as 5.6 MB; sync() of 100k boxes over 2
gloo ranks ~0.04 s.

Bad input raises :class:`~cvcore.errors.InputError` naming the argument: wrong shape or length,
non-numeric, NaN/inf, negative box sizes, fractional ids, unknown image or category ids, masks
of another size than their image, a keypoint count that does not match the category.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import InputError
from . import rle
from .coco import (
    _INT64_BOUND,
    CocoDets,
    CocoGT,
    _check_iou_type,
    _check_keypoint_counts,
    _check_known,
    _index_of,
    check_boxes,
    keypoint_extents,
    load_gt,
)
from .cocoeval import CocoEvalResult, Params, evaluate

_SOURCE = "StreamingCocoEval.update"

# The state's arrays by iou_type, in a fixed order (sync gathers them in it): name, dtype and
# the shape of one row (the first axis is the detections, or runs / keypoint rows).
_COMMON = (("image_ids", np.int64, ()), ("cat_ids", np.int64, ()), ("scores", np.float64, ()),
           ("boxes", np.float64, (4,)), ("areas", np.float64, ()))
_EXTRA = {
    "bbox": (),
    # masks: per detection its size and number of runs, then all runs one mask after another
    "segm": (("mask_heights", np.int64, ()), ("mask_widths", np.int64, ()),
             ("run_counts", np.int64, ()), ("runs", np.uint32, ())),
    # keypoints: per detection its number of keypoints, then all (x, y, v) rows
    "keypoints": (("keypoint_counts", np.int64, ()), ("keypoints", np.float64, (3,))),
}


def _fields(iou_type: str) -> tuple:
    return _COMMON + _EXTRA[iou_type]


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """A NumPy array of ``x`` (array, list, or torch tensor on any device)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        array = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise InputError(f"{name} is not an array ({err})", _SOURCE) from None
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name} must be numeric, got dtype {array.dtype}", _SOURCE)
    return array


def _ids(x: Any, name: str, n: int | None) -> np.ndarray:
    """int64[n] ids from integers or whole floats."""
    a = _to_numpy(x, name)
    if a.ndim != 1 or (n is not None and len(a) != n):
        raise InputError(f"{name} has shape {list(a.shape)}, needs [{n if n is not None else 'N'}]"
                         " (one id per detection)", _SOURCE)
    if a.dtype.kind == "f":
        bad = ~(np.isfinite(a) & (a == np.floor(a)) & (a >= -_INT64_BOUND) & (a < _INT64_BOUND))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{name} #{i} is not an integer id: {a[i]}", _SOURCE)
    elif a.dtype.kind == "u" and len(a) and a.max() >= _INT64_BOUND:
        i = int(np.argmax(a))
        raise InputError(f"{name} #{i} is outside the int64 range: {a[i]}", _SOURCE)
    return a.astype(np.int64)


def _floats(x: Any, name: str, shape: tuple, n: int) -> np.ndarray:
    """float64 of ``shape`` (None: that axis any length; ``n`` the detections), all finite."""
    a = _to_numpy(x, name)
    if a.ndim != len(shape) or any(s is not None and d != s for d, s in zip(a.shape, shape,
                                                                            strict=True)):
        want = ", ".join("N" if i == 0 else ("K" if s is None else str(s))
                         for i, s in enumerate(shape))
        of_n = f" with N = {n} (the length of scores)" if n >= 0 else ""
        raise InputError(f"{name} has shape {list(a.shape)}, needs [{want}]{of_n}", _SOURCE)
    a = a.astype(np.float64)
    finite = np.isfinite(a).reshape(len(a), int(np.prod(a.shape[1:]))).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise InputError(f"{name} #{i} is not finite: {a[i].tolist()}", _SOURCE)
    return a


def _box_rows(values: Any, n: int, box_format: str) -> np.ndarray:
    """float64[N, 4] xywh, checked as coco.py checks the boxes of a results file."""
    boxes = _floats(values, "boxes", (n, 4), n)
    if box_format == "xyxy":
        boxes = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    return check_boxes(boxes, "boxes", _SOURCE)


def _mask_rles(values: Any, n: int, heights: np.ndarray, widths: np.ndarray) -> rle.Rles:
    """N masks as Rles (dense ones encoded here), each of its image's size."""
    if isinstance(values, rle.Rles):
        masks = values
        if len(masks) != n:
            raise InputError(f"masks has {len(masks)} masks, needs {n} (the length of scores)",
                             _SOURCE)
        try:
            rle._check_sums(masks)  # runs past h * w would make the IoU kernel read garbage
        except ValueError as err:
            raise InputError(f"masks: {err}", _SOURCE) from None
    else:
        if hasattr(values, "detach") and hasattr(values, "cpu"):
            values = values.detach().cpu().numpy()
        dense = np.asarray(values)
        if dense.ndim != 3 or len(dense) != n:
            raise InputError(f"masks has shape {list(dense.shape)}, needs [N, H, W] with N = "
                             f"{n} (the length of scores), or an Rles", _SOURCE)
        if dense.dtype != np.bool_ and dense.dtype != np.uint8:
            raise InputError(f"masks must be bool or uint8, got dtype {dense.dtype}", _SOURCE)
        if dense.dtype == np.uint8 and dense.size and dense.max() > 1:
            raise InputError("masks must hold 0 and 1 only (uint8)", _SOURCE)
        # [N, W, H] C-ordered is every mask column-major, one after another: what encode reads.
        masks = rle.encode(np.ascontiguousarray(dense.transpose(0, 2, 1)).transpose(2, 1, 0))
    bad = (masks.heights != heights) | (masks.widths != widths)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"masks #{i} is {masks.heights[i]} x {masks.widths[i]} (h x w) but its "
                         f"image is {heights[i]} x {widths[i]}", _SOURCE)
    return masks


class StreamingCocoEval:
    """COCO AP over detections added batch by batch (see the module docstring).

    ``gt``: a :class:`~.coco.CocoGT` loaded for ``iou_type`` (segm needs the masks, keypoints
    the keypoints), or a path or dict given to :func:`~.coco.load_gt`. ``params``: a
    :class:`~.cocoeval.Params` of the same ``iou_type`` (default: pycocotools' defaults).
    ``box_format``: 'xywh' (COCO) or 'xyxy', for bbox updates.
    """

    def __init__(self, gt: CocoGT | str | os.PathLike | dict, iou_type: str = "bbox",
                 params: Params | None = None, box_format: str = "xywh"):
        _check_iou_type(iou_type)
        if box_format not in ("xywh", "xyxy"):
            raise ValueError(f"box_format must be 'xywh' or 'xyxy', not {box_format!r}")
        if not isinstance(gt, CocoGT):
            gt = load_gt(gt, iou_type)
        if iou_type != "bbox" and gt.iou_type != iou_type:
            raise ValueError(f"the ground truth was loaded for {gt.iou_type!r}, not for "
                             f"{iou_type!r}: load_gt(..., iou_type={iou_type!r})")
        if params is not None and params.iou_type != iou_type:
            raise ValueError(f"params are for {params.iou_type!r}, not {iou_type!r}")
        self.gt = gt
        self.iou_type = iou_type
        self.params = params
        self.box_format = box_format
        self._chunks: list[dict[str, np.ndarray]] = []
        self._synced = False

    def reset(self) -> None:
        """Forget every detection (the ground truth and parameters stay)."""
        self._chunks = []
        self._synced = False

    def _check_not_synced(self, what: str) -> None:
        # After sync() this rank holds every rank's detections: adding more and syncing again
        # would count the other ranks' twice.
        if self._synced:
            raise ValueError(f"{what} after sync(): call reset() first (sync() gathered every "
                             "rank's detections here)")

    def __len__(self) -> int:
        """The number of detections added (or merged) so far."""
        return sum(len(c["scores"]) for c in self._chunks)

    def update(self, image_ids: Any, values: Any, scores: Any, labels: Any) -> None:
        """Add one batch of N detections: ``image_ids`` int[N], ``values`` (boxes, masks or
        keypoints by ``iou_type``, see the module docstring), ``scores`` float[N] (any finite
        numbers: only their order counts), ``labels`` int[N] category ids. NumPy arrays or
        torch tensors (copied to the CPU). Nothing is added when any of it is bad."""
        self._check_not_synced("update()")
        score = _floats(scores, "scores", (None,), -1)
        n = len(score)
        image = _ids(image_ids, "image_ids", n)
        cat = _ids(labels, "labels", n)
        if self.iou_type == "bbox":  # shapes first, then ids, then what needs the images
            boxes = _box_rows(values, n, self.box_format)
        elif self.iou_type == "keypoints":
            kp = _to_numpy(values, "keypoints")
            if kp.ndim == 2 and kp.shape[1] % 3 == 0:
                kp = kp.reshape(len(kp), kp.shape[1] // 3, 3)
            kp = _floats(kp, "keypoints", (n, None, 3), n)
        _check_known(image, self.gt.image_ids, "image_ids", "image", _SOURCE)
        _check_known(cat, self.gt.cat_ids, "labels", "category", _SOURCE)
        chunk = {"image_ids": image, "cat_ids": cat, "scores": score}
        if self.iou_type == "bbox":
            chunk["boxes"], chunk["areas"] = boxes, boxes[:, 2] * boxes[:, 3]
        elif self.iou_type == "segm":
            img = _index_of(image, self.gt.image_ids)
            masks = _mask_rles(values, n, self.gt.heights[img], self.gt.widths[img])
            mask_areas, mask_boxes = rle.area_and_bbox(masks)
            chunk.update(boxes=mask_boxes, areas=mask_areas.astype(np.float64),
                         mask_heights=masks.heights, mask_widths=masks.widths,
                         run_counts=np.diff(masks.starts), runs=masks.runs)
        else:
            k = kp.shape[1]
            if n and k == 0:
                raise InputError("keypoints #0 has no keypoints", _SOURCE)
            counts = np.full(n, k, np.int64)
            starts = np.arange(n + 1, dtype=np.int64) * k
            _check_keypoint_counts(starts, cat, self.gt, "keypoints", _SOURCE)
            flat = kp.reshape(-1, 3)
            boxes, areas = keypoint_extents(flat, starts)
            chunk.update(boxes=boxes, areas=areas, keypoint_counts=counts, keypoints=flat)
        self._chunks.append(chunk)

    def state(self) -> dict[str, np.ndarray]:
        """Every detection so far as a dict of flat NumPy arrays (see ``_EXTRA`` for the segm
        and keypoints ones); what :meth:`merge` takes and :meth:`sync` exchanges."""
        fields = _fields(self.iou_type)
        if len(self._chunks) != 1:
            self._chunks = [{name: np.concatenate(
                [c[name] for c in self._chunks] or [np.zeros((0, *shape), dtype)]).astype(dtype)
                for name, dtype, shape in fields}]
        return dict(self._chunks[0])

    def merge(self, other_states: list[dict[str, np.ndarray]]) -> None:
        """Append the detections of other evaluators' :meth:`state`, in the order given."""
        self._check_not_synced("merge()")
        fields = _fields(self.iou_type)
        for state in other_states:
            if set(state) != {name for name, _, _ in fields}:
                raise ValueError(f"not a {self.iou_type!r} StreamingCocoEval state: keys "
                                 f"{sorted(state)}")
            self._chunks.append({name: np.asarray(state[name], dtype).reshape(-1, *shape)
                                 for name, dtype, shape in fields})

    def sync(self) -> None:
        """Under torch.distributed (every rank calls it): replace this rank's detections by all
        ranks', rank 0's first. A no-op without an initialised process group, with one process,
        or when already synced (until :meth:`reset`; updates in between are refused). Arrays
        travel as padded tensors through ``all_gather`` (sizes first), never pickled; on an
        NCCL group through the current CUDA device."""
        import torch.distributed as dist

        if (self._synced or not (dist.is_available() and dist.is_initialized())
                or dist.get_world_size() == 1):
            return
        states = _all_gather_states(self.state(), _fields(self.iou_type))
        self.reset()
        self.merge(states)
        self._synced = True

    def detections(self) -> CocoDets:
        """All detections as the :class:`~.coco.CocoDets` loading them from a file would give
        (ids 1..M in update order)."""
        s = self.state()
        m = len(s["scores"])
        segms = keypoints = keypoint_starts = None
        if self.iou_type == "segm":
            starts = np.zeros(m + 1, np.int64)
            np.cumsum(s["run_counts"], out=starts[1:])
            segms = rle.Rles(s["mask_heights"], s["mask_widths"], starts, s["runs"])
        elif self.iou_type == "keypoints":
            keypoints = s["keypoints"]
            keypoint_starts = np.zeros(m + 1, np.int64)
            np.cumsum(s["keypoint_counts"], out=keypoint_starts[1:])
        return CocoDets(ids=np.arange(1, m + 1, dtype=np.int64), image_ids=s["image_ids"],
                        cat_ids=s["cat_ids"], boxes=s["boxes"], scores=s["scores"],
                        areas=s["areas"], source="<streaming>", iou_type=self.iou_type,
                        segms=segms, keypoints=keypoints, keypoint_starts=keypoint_starts)

    def compute(self) -> CocoEvalResult:
        """COCO AP of every detection so far: :func:`~.cocoeval.evaluate` on them (call
        :meth:`sync` first under torch.distributed)."""
        return evaluate(self.gt, self.detections(), self.params or Params(iou_type=self.iou_type))


def _all_gather_states(state: dict[str, np.ndarray], fields: tuple) -> list[dict]:
    """Every rank's ``state``, by rank. Each rank sends its arrays' lengths (one all_gather),
    then per dtype one flat buffer padded to the longest rank's (uint32 runs as int32 bits)."""
    import torch
    import torch.distributed as dist

    world = dist.get_world_size()
    device = (torch.device("cuda", torch.cuda.current_device())
              if dist.get_backend() == "nccl" else torch.device("cpu"))
    flat = {name: np.ascontiguousarray(state[name], dtype).reshape(-1)
            for name, dtype, _ in fields}
    sizes = torch.tensor([flat[name].size for name, _, _ in fields], dtype=torch.int64,
                         device=device)
    all_sizes = [torch.empty_like(sizes) for _ in range(world)]
    dist.all_gather(all_sizes, sizes)
    all_sizes = np.stack([s.cpu().numpy() for s in all_sizes])  # [world, fields]
    states: list[dict] = [{} for _ in range(world)]
    for dtype in dict.fromkeys(np.dtype(d) for _, d, _ in fields):
        cols = [j for j, (_, d, _) in enumerate(fields) if np.dtype(d) == dtype]
        wire = np.dtype(np.int32) if dtype == np.uint32 else dtype  # torch: no uint32 on gloo
        totals = all_sizes[:, cols].sum(axis=1)
        length = max(int(totals.max()), 1)  # never an empty tensor on the wire
        buffer = np.zeros(length, wire)
        own = np.concatenate([flat[fields[j][0]] for j in cols]).view(wire)
        buffer[:len(own)] = own
        sent = torch.from_numpy(buffer).to(device)
        received = [torch.empty_like(sent) for _ in range(world)]
        dist.all_gather(received, sent)
        for r in range(world):
            data = received[r].cpu().numpy()[:totals[r]].view(dtype)
            ends = np.cumsum(all_sizes[r, cols])
            for j, part in zip(cols, np.split(data, ends[:-1]), strict=True):
                name, _, shape = fields[j]
                states[r][name] = part.reshape(-1, *shape)
    return states

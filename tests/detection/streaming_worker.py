"""One torchrun rank of tests/detection/test_streaming.py's distributed test.

``python -m torch.distributed.run --nproc_per_node 2 --standalone streaming_worker.py DIR``:
for every case ``DIR/<name>.json`` ({"iou_type", "gt", "ranks": [[[a, b], ...] per rank]}) with
its detections ``DIR/<name>.npz`` (a single-process StreamingCocoEval's state), this rank
updates with its own slices, syncs over gloo and computes; rank 0 writes the result arrays to
``DIR/<name>.out.npz``.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch.distributed as dist

from cvcore.detection import rle
from cvcore.detection.streaming import StreamingCocoEval


def values(state: dict, iou_type: str, a: int, b: int):
    """The ``update`` values of detections a..b of a state."""
    if iou_type == "bbox":
        return state["boxes"][a:b]
    if iou_type == "keypoints":
        k = int(state["keypoint_counts"][0]) if len(state["keypoint_counts"]) else 0
        return state["keypoints"][a * k:b * k].reshape(b - a, k, 3)
    starts = np.concatenate([[0], np.cumsum(state["run_counts"])])
    masks = rle.Rles(state["mask_heights"], state["mask_widths"], starts, state["runs"])
    return rle.take(masks, np.arange(a, b))


def main(folder: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    for case in sorted(folder.glob("*.json")):
        spec = json.loads(case.read_text())
        state = dict(np.load(case.with_suffix(".npz")))
        ev = StreamingCocoEval(spec["gt"], spec["iou_type"])
        for a, b in spec["ranks"][rank]:
            ev.update(state["image_ids"][a:b], values(state, spec["iou_type"], a, b),
                      state["scores"][a:b], state["cat_ids"][a:b])
        own = len(ev)
        ev.sync()
        ev.sync()  # a second sync without updates changes nothing
        try:
            ev.update(state["image_ids"][:0], values(state, spec["iou_type"], 0, 0),
                      state["scores"][:0], state["cat_ids"][:0])
            raise AssertionError("update after sync was accepted")
        except ValueError as err:
            assert "reset()" in str(err), err
        result = ev.compute()
        if rank == 0:
            gathered = {f"state_{k}": v for k, v in ev.state().items()}
            np.savez(case.with_suffix(".out.npz"), stats=result.stats,
                     precision=result.precision, recall=result.recall, scores=result.scores,
                     own=own, **gathered)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

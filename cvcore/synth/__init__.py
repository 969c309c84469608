"""Synthetic datasets in the real on-disk layouts, deterministic per seed.

``python -m cvcore.synth {classify,camvid,coco,mot} OUT [--seed S]`` writes

- ``classify``: folder-per-class JPEGs with the ten Russian Wildlife classes
  (:func:`cvcore.synth.classify.make_classify`);
- ``camvid``: the Kaggle CamVid-32 layout with colour-coded ``<stem>_L.png`` labels
  (:func:`cvcore.synth.camvid.make_camvid`);
- ``coco``: ``images/val2017`` + ``annotations/instances_val2017.json`` (boxes and masks) and a
  detector's ``predictions.json`` with realistic errors, ``predictions_segm.json`` the same with
  RLE masks (:func:`cvcore.synth.coco.make_coco`);
- ``mot``: ``MOT17/train/<SEQ>/`` with ``seqinfo.ini``, ``img1/``, ``gt/gt.txt`` and
  ``det/det.txt`` (:func:`cvcore.synth.mot.make_mot`).

The tests and ``make demo`` use them; the machine has no internet, so nothing is downloaded.
"""

from __future__ import annotations

import os

from PIL import Image

from ..atomic import atomic_open


def save_image(image: Image.Image, path: str | os.PathLike, **kwargs) -> None:
    """Save a PIL image atomically; the format follows the file suffix."""
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}[os.path.splitext(str(path))[1].lower()]
    with atomic_open(path, "wb") as f:
        image.save(f, format=fmt, **kwargs)

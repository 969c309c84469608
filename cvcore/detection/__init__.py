"""cvcore.detection: evaluating a detector's COCO output (nothing here imports another task).

- :mod:`.coco`: COCO instances and results files as NumPy arrays, with one-line errors
- :mod:`.cocoeval`: COCO AP for boxes, masks and keypoints, pycocotools' numbers (``evaluate``,
  ``match``, ``accumulate``, ``stat_names``, CLI)
- :mod:`.streaming`: COCO AP fed batch by batch in a training loop, gathered over torchrun ranks
- :mod:`.tide`: TIDE error breakdown, tidecv's numbers (CLI too)
- :mod:`.ece`: detection calibration (correctness from COCO's matching at IoU 0.5)
- :mod:`.plots`: TIDE, reliability and PR-curve figures
- :mod:`.yolo`: ultralytics models from a checkpoint or config without running code from it
"""

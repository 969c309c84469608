"""A drop-in for pycocotools 2.0.11 (``coco``, ``cocoeval``, ``mask``) on cvcore's engine.

``cvcore.init_as_pycocotools()`` registers these modules as ``pycocotools``, ``pycocotools.coco``,
``pycocotools.cocoeval`` and ``pycocotools.mask``, so code written for pycocotools runs unchanged
(torchvision's detection references, torchmetrics' ``MeanAveragePrecision(backend="pycocotools")``);
they can also be imported under their own names.

- :mod:`.coco`: ``COCO``, the annotation API on the parsed JSON dicts (index, getters, ``loadRes``,
  ``annToRLE`` / ``annToMask``, ``showAnns``)
- :mod:`.cocoeval`: ``COCOeval`` and ``Params`` for 'bbox', 'segm' and 'keypoints', with
  pycocotools' numbers, ``evalImgs`` and ``ious`` built only when read
- :mod:`.mask`: ``encode``, ``decode``, ``area``, ``toBbox``, ``merge``, ``iou``, ``frPyObjects``
  on cvcore's RLE kernels

Each module's docstring lists where it deliberately differs from pycocotools.
"""

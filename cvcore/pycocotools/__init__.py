"""A drop-in for pycocotools (``coco``, ``cocoeval``, ``mask``) on cvcore's evaluation engine.

``cvcore.init_as_pycocotools()`` registers these modules as ``pycocotools``, ``pycocotools.coco``,
``pycocotools.cocoeval`` and ``pycocotools.mask``, so code written for pycocotools runs unchanged.
"""

"""``python -m cvcore.cocoeval``: COCO AP for boxes, masks or keypoints
(``GT RES [--iou-type {bbox,segm,keypoints}] [--json OUT]``). The code lives in
:mod:`cvcore.detection.cocoeval`; this entry module keeps the documented command line.
"""

if __name__ == "__main__":
    from cvcore import command_imports

    with command_imports():
        from cvcore.detection.cocoeval import cli

    cli()

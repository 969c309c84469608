"""``python -m cvcore.cocoeval``: COCO AP (``GT RES [--json OUT]``). The code lives in
:mod:`cvcore.detection.cocoeval`; this entry module keeps the documented command line.
"""

if __name__ == "__main__":
    from cvcore.detection.cocoeval import cli

    cli()

"""cvcore: the package shared by train_classify, train_segment, detect_eval and track.

The evaluation core (COCO AP, TIDE, ECE, segmentation and MOT metrics) is NumPy + Numba code that
reproduces the reference tools' numbers; the reference tools are test dependencies only.
"""

__version__ = "0.1.0"

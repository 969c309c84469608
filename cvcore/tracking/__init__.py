"""cvcore.tracking: multi-object trackers and MOTChallenge/TrackEval metrics.

- :mod:`.mot`: MOTChallenge files (seqinfo.ini, gt/det/results tables) and their rules
- :mod:`.motmetrics`: TrackEval's preprocessing, ``evaluate`` over sequences, CLI
- :mod:`.kitti`: KITTI 2D-box tracking files and TrackEval's Kitti2DBox evaluation
- :mod:`.metrics`: one module per metric family (HOTA, CLEAR, Identity, Count)
- :mod:`.assignment`: SciPy-exact Hungarian assignment in Numba
- :mod:`.kalman`: the trackers' Kalman filters (ByteTrack's, BoT-SORT's, SORT's), batched
- :mod:`.bytetrack`, :mod:`.botsort` (with camera-motion compensation), :mod:`.sort`,
  :mod:`.ocsort`, :mod:`.ioutracker`: the trackers
"""

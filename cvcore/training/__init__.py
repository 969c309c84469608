"""cvcore.training: the engine train_classify.py and train_segment.py share.

Kept light (nothing imported here; ``cvcore.plots`` imports :mod:`.images` without torch):

- :mod:`.loop`: ``start`` (Session), ``Task``, ``fit`` (the whole run), ``train_one_epoch``,
  ``evaluate`` (both return an ``EpochResult``), ``open_run_dir``
- :mod:`.options`: the shared command-line options (``add_arguments``, ``validate_args``)
- :mod:`.distributed`: ``Dist``, torchrun process group, DDP wrap/unwrap, loaders, all-reduce
- :mod:`.checkpoint`: save/load/resume checkpoints, RNG states, the ``--resume`` lookup
- :mod:`.loggers`: optional wandb / TensorBoard loggers
- :mod:`.weights`: safe weight-file loading (``weights_only``), one-line errors
- :mod:`.images`: image decoding and ImageNet statistics (no torch)
"""

"""``python -m cvcore.motmetrics``: HOTA / CLEAR / Identity (``--gt-root DIR --results DIR``).
The code lives in :mod:`cvcore.tracking.motmetrics`; this entry module keeps the documented
command line.
"""

if __name__ == "__main__":
    from cvcore import command_imports

    with command_imports():
        from cvcore.tracking.motmetrics import cli

    cli()

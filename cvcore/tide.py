"""``python -m cvcore.tide``: TIDE errors (``GT RES [--by-scale] [--json OUT]``). The code lives in
:mod:`cvcore.detection.tide`; this entry module keeps the documented command line.
"""

if __name__ == "__main__":
    from cvcore import command_imports

    with command_imports():
        from cvcore.detection.tide import cli

    cli()

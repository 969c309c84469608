"""Packaging: environment.yml mirrors pyproject.toml; the wheel holds the whole package."""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib

import yaml
from conftest import REPO


def pinned(spec: str) -> tuple[str, str]:
    name, version = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*={1,2}\s*([^\s;]+)\s*", spec).groups()
    return name.lower().replace("_", "-"), version


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    expected = dict(pinned(s) for s in specs)

    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = dict(pinned(s) for s in conda + pip if not s.startswith(("python", "pip")))
    assert "python=3.11" in conda
    assert listed == expected
    assert expected["torch"] == "2.14.1" and expected["torchvision"] == "0.29.1"


def test_wheel_installs_every_module_without_the_checkout(tmp_path):
    """``pip install`` of the built wheel (not editable) carries every module, ``cvcore.synth``
    included, and runs from a folder outside the checkout."""
    wheels, site, src = tmp_path / "wheels", tmp_path / "site", tmp_path / "src"
    # Build from a clean copy: a build/ folder left in the checkout would hide missing packages.
    shutil.copytree(REPO / "cvcore", src / "cvcore",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
                           capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("cvcore-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                              "--target", str(site), str(wheel)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert install.returncode == 0, install.stderr

    expected = sorted(".".join(p.relative_to(REPO).with_suffix("").parts)
                      for p in (REPO / "cvcore").rglob("*.py"))
    installed = sorted(".".join(p.relative_to(site).with_suffix("").parts)
                       for p in (site / "cvcore").rglob("*.py"))
    assert installed == expected

    env = {**os.environ, "PYTHONPATH": str(site)}  # the wheel's copy, not the checkout
    names = [m.removesuffix(".__init__") for m in expected if not m.endswith("__main__")]
    code = ("import importlib, cvcore\n"
            f"assert cvcore.__file__.startswith({str(site)!r}), cvcore.__file__\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            "print(len(" + repr(names) + "))")
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=tmp_path, env=env)
    assert imported.returncode == 0, imported.stderr
    assert int(imported.stdout) == len(names)

    for command, out in (([sys.executable, "-m", "cvcore.synth"], "coco"),
                         ([str(site / "bin" / "cvcore"), "synth"], "coco2")):  # console script
        synth = subprocess.run([*command, "coco", str(tmp_path / out), "--num-images", "3",
                                "--no-images"], capture_output=True, text=True, cwd=tmp_path,
                               env=env)
        assert synth.returncode == 0, synth.stderr
        gt = json.loads((tmp_path / out / "annotations" / "instances_val2017.json").read_text())
        assert len(gt["images"]) == 3

"""environment.yml (conda users) must list the same packages and pins as pyproject.toml."""

import re
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

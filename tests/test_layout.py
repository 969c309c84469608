"""The package's layout rules, read from the source: scripts import only ``cvcore``, task
subpackages never import each other, and the top level stays small."""

import ast
from pathlib import Path

from conftest import REPO

TASKS = ("detection", "tracking", "segmentation", "classification")
SCRIPTS = ("train_classify", "train_segment", "detect_eval", "track")


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    rel = path.relative_to(REPO).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def task_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "cvcore" and parts[1] in TASKS else None


def test_scripts_import_only_the_package():
    for script in SCRIPTS:
        imported = imported_modules(REPO / f"{script}.py")
        assert not imported & set(SCRIPTS), (script, imported & set(SCRIPTS))


def test_task_subpackages_do_not_import_each_other():
    offenders = []
    checked = 0
    for path in (REPO / "cvcore").rglob("*.py"):
        own = task_of(".".join(path.relative_to(REPO).with_suffix("").parts))
        if own is None:
            continue
        checked += 1
        for module in imported_modules(path):
            other = task_of(module)
            if other is not None and other != own:
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert checked >= 20
    assert offenders == []


def test_shared_modules_do_not_import_task_subpackages():
    """The top-level primitives stay below the tasks (thin CLI forwarders excepted)."""
    forwarders = {"cocoeval", "tide", "motmetrics", "__init__"}
    for path in (REPO / "cvcore").glob("*.py"):
        if path.stem in forwarders:
            continue
        tasks = {task_of(m) for m in imported_modules(path)} - {None}
        assert tasks == set(), (path.name, tasks)


def test_top_level_is_small_and_every_task_has_its_subpackage():
    modules = sorted(p.stem for p in (REPO / "cvcore").glob("*.py") if p.stem != "__init__")
    assert len(modules) <= 10, modules
    for package in (*TASKS, "training", "synth"):
        assert (REPO / "cvcore" / package / "__init__.py").is_file(), package


def test_the_import_reader_sees_relative_imports():
    path = REPO / "cvcore" / "detection" / "cocoeval.py"
    imported = imported_modules(path)
    assert "cvcore.errors" in imported and "cvcore.detection.coco" in imported

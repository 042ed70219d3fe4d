"""The seams hold: the core never imports a chat platform, and adapters import only inward."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORM_PACKAGES = ("discord", "slack_bolt", "slack_sdk", "slack", "adapters")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_never_imports_a_platform_sdk_or_an_adapter() -> None:
    files = sorted((REPO / "bot").rglob("*.py"))
    assert len(files) > 15
    offenders = {
        f"{path.relative_to(REPO)}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.split(".")[0] in PLATFORM_PACKAGES
    }
    assert offenders == set()


def test_adapter_modules_do_not_shadow_their_sdks() -> None:
    names = {p.stem for p in (REPO / "adapters").glob("*.py")}
    assert not names & {"discord", "slack", "slack_bolt", "slack_sdk"}
    assert {n for n in names if n != "__init__"} <= {n for n in names if n.endswith("_adapter")}


def test_the_checker_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import discord\nfrom slack_sdk.web import WebClient\n")
    assert imported_modules(probe) == {"discord", "slack_sdk.web"}

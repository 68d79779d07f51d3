"""The repository's layout rules that keep imports sane."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_platform_import_is_still_the_standard_library() -> None:
    code = "import platform, uuid; print(platform.__file__); print(platform.system())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert not out[0].startswith(str(ROOT)), out[0]
    assert out[1]  # platform.system() works: the real module, not our folder


def test_platform_folder_has_no_init() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_appblocks_maps_onto_platform() -> None:
    import appblocks.engine

    assert Path(appblocks.engine.__file__).resolve().parent == ROOT / "platform" / "engine"


def test_lower_layers_import_no_web_code() -> None:
    forbidden = {"fastapi", "starlette", "jinja2", "appblocks.server", "appblocks.views"}
    for package in ("engine", "forms", "workflows"):
        for path in (ROOT / "platform" / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    assert not any(name == f or name.startswith(f + ".") for f in forbidden), (
                        f"{path.relative_to(ROOT)} imports {name}"
                    )

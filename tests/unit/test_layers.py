"""The layering is a checked rule: an import that runs up the layers fails the suite (and
`make lint`). The contract is in pyproject.toml; docs/architecture.md draws it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lint_imports(root: Path = REPO) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH: a copy's packages come before the installed (editable) agent_actors.
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_import_runs_down_the_layers() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_the_service_importing_the_dev_stack_breaks_the_contract(tmp_path: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "src" / "agent_actors", tmp_path / "src" / "agent_actors", ignore=ignore)
    shutil.copytree(REPO / "devstack", tmp_path / "devstack", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    models = tmp_path / "src" / "agent_actors" / "models.py"
    models.write_text(models.read_text() + "\nfrom devstack.ports import free_ports  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "agent_actors.models -> devstack.ports" in result.stdout, result.stdout[-3000:]

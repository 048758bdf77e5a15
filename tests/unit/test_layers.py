"""The layering is a checked rule: an import that runs up the layers fails the suite (and
`make lint`). The contract is in pyproject.toml; docs/architecture.md draws it."""

from __future__ import annotations

import os
import re
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
    assert "3 kept, 0 broken" in result.stdout


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


# The Dapr SDK's private attributes the service reaches for (its actor managers, their active
# actors, a state manager's change tracker, an actor's runtime context, the interface
# inspection helpers): only the seam, src/agent_actors/sidecar/, may name them.
SDK_PRIVATES = re.compile(
    r"\._(actor_managers|active_actors\w*|default_state_change_tracker|runtime_ctx|type_utils"
    r"|dispatcher|state_provider|actor_client|registered_actors|save_state_internal)\b"
)


def test_only_the_seam_touches_the_sdks_privates() -> None:
    seam = REPO / "src" / "agent_actors" / "sidecar"
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "src").rglob("*.py"))
        if seam not in path.parents
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SDK_PRIVATES.search(line)
    ]
    assert found == []
    # The pattern finds what the seam does touch (a pattern that matches nothing proves nothing).
    assert any(SDK_PRIVATES.search(p.read_text()) for p in seam.rglob("*.py"))


def test_the_sdk_outside_the_seam_breaks_the_contract(tmp_path: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "src" / "agent_actors", tmp_path / "src" / "agent_actors", ignore=ignore)
    shutil.copytree(REPO / "devstack", tmp_path / "devstack", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    schemas = tmp_path / "src" / "agent_actors" / "api" / "schemas.py"
    schemas.write_text(schemas.read_text() + "\nfrom dapr.actor import ActorRuntime  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "agent_actors.api.schemas -> dapr" in result.stdout, result.stdout[-3000:]


def test_one_name_means_one_thing_in_the_source_tree() -> None:
    """No two modules share a name (actors/conversation.py and events/conversation.py did),
    but for __init__ and settings/, whose sections are named after what they configure."""
    src = REPO / "src" / "agent_actors"
    names = [
        p.name
        for p in src.rglob("*.py")
        if p.name != "__init__.py" and (src / "settings") not in p.parents
    ]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []

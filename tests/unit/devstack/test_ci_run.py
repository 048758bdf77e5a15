"""CI runs the README's commands (`make lint`, `make test`) and nothing else: any set-up CI did
on its own would hide a `make test` that fails on a fresh machine (it did: uv in ~/.local/bin,
off PATH)."""

from __future__ import annotations

import re
import shlex
import subprocess

from tests.manifests import REPO

INSTALLS = re.compile(
    r"\b(pip3?|apt-get|apt|uv|curl|wget|go\s+(build|install|get)|build(-tools)?\.sh)\b"
    r"|\bpython3?\s+-m\s+pip\b"
)


def commands() -> list[str]:
    """The script's lines, comments and blank lines aside."""
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_ci_installs_nothing_itself() -> None:
    found = [cmd for cmd in commands() if INSTALLS.search(cmd)]
    assert found == []


def test_ci_runs_make_lint_and_make_test_and_no_other_target() -> None:
    makes = [shlex.split(c) for c in commands() if re.match(r"make\b", c)]
    targets = [argv[1:] for argv in makes if argv[1] != "--version"]
    assert targets == [["lint"], ["test"]]


def test_make_test_installs_what_ci_used_to() -> None:
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "test"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for step in (
        "pip install",
        "tools/dapr/build.sh",
        "devstack.redis",
        "apt-get install -y -qq chromium",
        "tools/k8s/build-tools.sh",
        "tools/jaeger/build.sh",
    ):
        assert step in dry.stdout, dry.stdout

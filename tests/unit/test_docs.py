"""Docs that must match the code."""

from __future__ import annotations

from devstack.settings import REPO_ROOT
from devstack.settings_doc import DOC, START, render


def test_the_configuration_table_matches_the_settings() -> None:
    doc = DOC.read_text()
    assert render(doc) == doc, "docs/configuration.md's settings table is stale: run `make docs`"


def test_the_readme_points_to_the_configuration_table_and_holds_none() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert START not in readme
    assert "](docs/configuration.md)" in readme


def test_readme_links_resolve() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for target in (
        "docs/architecture.md",
        "docs/llm.md",
        "docs/kubernetes.md",
        "docs/BENCHMARKS.md",
        "docs/inspector.md",
        "docs/configuration.md",
    ):
        assert f"]({target})" in readme
        assert (REPO_ROOT / target).exists(), target


def test_the_inspector_guide_shows_the_browser_tests_screenshot() -> None:
    guide = (REPO_ROOT / "docs" / "inspector.md").read_text()
    assert "](inspector.png)" in guide
    png = (REPO_ROOT / "docs" / "inspector.png").read_bytes()
    assert png.startswith(b"\x89PNG")

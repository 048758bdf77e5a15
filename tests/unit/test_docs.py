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


def test_benchmarks_show_the_newest_run_of_the_run_log() -> None:
    # `make bench` appends each whole run to docs/bench/runs.md and puts the same table
    # between these markers in docs/BENCHMARKS.md (bench/markdown.py); chart links differ
    # only by the folder each file sits in.
    start, end = "<!-- latest-run:start -->", "<!-- latest-run:end -->"
    summary = (REPO_ROOT / "docs" / "BENCHMARKS.md").read_text()
    assert summary.count(start) == summary.count(end) == 1
    latest = summary.split(start, 1)[1].split(end, 1)[0]
    runs = (REPO_ROOT / "docs" / "bench" / "runs.md").read_text()
    newest = runs[runs.rindex("\n### ") :]
    assert latest.replace("](bench/", "](").strip() == newest.strip()

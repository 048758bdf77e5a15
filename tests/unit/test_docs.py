"""Docs that must match the code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from devstack.settings import REPO_ROOT
from devstack.settings_doc import DOC, START, render

# Fenced blocks and code spans hold no links; a link is [text](target) or ![alt](target).
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def test_the_configuration_table_matches_the_settings() -> None:
    doc = DOC.read_text()
    assert render(doc) == doc, "docs/configuration.md's settings table is stale: run `make docs`"


def test_the_readme_points_to_the_configuration_table_and_holds_none() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert START not in readme
    assert "](docs/configuration.md)" in readme


def test_the_readme_is_read_in_a_minute() -> None:
    # What it is, a picture, the quickstart, the tests, links: details belong in docs/.
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 150


def test_the_readme_links_to_every_doc() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    docs = sorted(p.name for p in (REPO_ROOT / "docs").glob("*.md"))
    assert [name for name in docs if f"](docs/{name})" not in readme] == []


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


def _pages() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def _relative_links(page: Path) -> list[str]:
    text = CODE.sub("", FENCE.sub("", page.read_text()))
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def _anchors(page: Path) -> set[str]:
    """GitHub's ids of a page's headings: lower case, punctuation dropped, spaces -> '-'."""
    heads = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_every_relative_link_in_the_docs_points_to_a_file() -> None:
    broken = []
    for page in _pages():
        for target in _relative_links(page):
            path, _, anchor = target.partition("#")
            found = page.parent / path if path else page
            if not found.exists() or (
                anchor and found.suffix == ".md" and anchor not in _anchors(found)
            ):
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target}")
    assert broken == []


def test_the_docs_stay_inside_the_repository() -> None:
    # Every link resolves inside the repository (nothing of the machine around it).
    outside = [
        f"{page.relative_to(REPO_ROOT)}: {target}"
        for page in _pages()
        for target in _relative_links(page)
        if not (page.parent / target.partition("#")[0]).resolve().is_relative_to(REPO_ROOT)
    ]
    assert outside == []


def test_no_file_holds_a_merge_conflicts_markers() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    marker = re.compile(r"^(<{7}|>{7}) ", re.M)
    found = [
        name
        for name in tracked
        if (REPO_ROOT / name).is_file()
        and (REPO_ROOT / name).suffix in {".md", ".py", ".toml", ".yaml", ".js", ".html", ".css"}
        and marker.search((REPO_ROOT / name).read_text(errors="replace"))
    ]
    assert found == []

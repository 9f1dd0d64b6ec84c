"""Every relative link in the project's Markdown leads somewhere: the file exists and, when
the link names a section, the section does (GitHub's heading anchors). The docs must also
stand alone: no link or path out of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*$", re.M)
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def markdown_files() -> list[Path]:
    skipped = {".venv", ".chatfunnel", "node_modules", ".git"}
    return sorted(p for p in ROOT.rglob("*.md") if not skipped & set(p.relative_to(ROOT).parts))


def anchor(heading: str) -> str:
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {anchor(m.group("text")) for m in HEADING.finditer(text)}


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = []
    for match in LINK.finditer(text):
        target = match.group("target")
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, section = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists() or ROOT not in (resolved, *resolved.parents):
            broken.append(f"{target}: no such file in the repository")
        elif section and resolved.suffix == ".md" and section not in anchors(resolved):
            broken.append(f"{target}: no section #{section} in {resolved.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_there_are_docs_to_check() -> None:
    names = {str(p.relative_to(ROOT)) for p in markdown_files()}
    assert {"README.md", "docs/reports.md", "docs/operations.md"} <= names


def project_texts() -> list[Path]:
    skipped = {".venv", ".chatfunnel", ".git", "__pycache__"}
    suffixes = {".md", ".py", ".sql", ".toml", ".yml", ".yaml", ".sh", ".cron"}
    return sorted(p for p in ROOT.rglob("*") if p.suffix in suffixes and p.is_file()
                  and not skipped & set(p.relative_to(ROOT).parts) and p != Path(__file__))


def test_the_project_stands_alone() -> None:
    """Docs and code comments speak the project's words: no papers outside it, no issue numbers."""
    offenders = []
    for path in project_texts():
        text = path.read_text(encoding="utf-8")
        for outside in ("../shared", "/work/", "API-NOTES", "CONTRACT.md"):
            if outside in text:
                offenders.append(f"{path.relative_to(ROOT)}: {outside}")
        if re.search(r"\bissues? #?\d+", text, re.I):
            offenders.append(f"{path.relative_to(ROOT)}: an issue number")
    assert len(project_texts()) > 100 and not offenders, offenders

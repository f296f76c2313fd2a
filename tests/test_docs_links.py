"""The README and docs/*.md link to each other with relative links: each must reach a file in
the repository and, when it names an anchor (``file.md#heading``), a heading of that file,
spelled as GitHub spells its anchors. The README stays short enough to read on a screen."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code (a `[x](y)` there is no link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(lines)


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, links and inline-code marks reduced to their
    text, punctuation dropped (letters, digits, spaces, '-' and '_' kept), spaces become '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not match:
            continue
        slug = github_anchor(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")  # repeated headings: -1, -2, ...
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
        elif not dest.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
    return broken


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_its_file_and_heading(path):
    assert broken_links(path) == []


def test_the_checker_sees_a_broken_file_and_a_broken_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Class grading: `tfbook grade`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#class-grading-tfbook-grade) [gone](missing.md) "
        "[bad](other.md#nowhere) [web](https://example.org/x.md)\n"
        "```\n[in code](missing-too.md)\n```\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = broken_links(page)
    finally:
        ROOT = saved
    assert len(found) == 2 and "missing.md" in found[0] and "#nowhere" in found[1], found


def test_github_anchors():
    assert (
        github_anchor("Durability and concurrency: journal + group commit")
        == "durability-and-concurrency-journal--group-commit"
    )
    assert github_anchor("How a learner's grade is made") == "how-a-learners-grade-is-made"
    assert (
        github_anchor("Chapter 01: what summaries cost (`python -m bench.bench_ch01`)")
        == "chapter-01-what-summaries-cost-python--m-benchbench_ch01"
    )


def test_the_readme_fits_on_a_screen_or_two():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail to docs/"


def test_the_readme_links_every_document_in_docs():
    readme = (ROOT / "README.md").read_text()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{doc.name})" in readme, f"README.md does not link docs/{doc.name}"

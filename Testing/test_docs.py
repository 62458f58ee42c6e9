"""Documentation hygiene: CITATION.cff is well-formed, relative links resolve, methods are cited from docs/methods.md."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import yaml

from MIRVLib import __version__

REPO = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "Resources" / "Models" / "README.md"]


def _prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets are code, not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup removed, lower case, punctuation dropped, spaces → hyphens."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("`", "").replace("*", "")
    text = "".join(c for c in text.lower() if c in "-_ " or unicodedata.category(c)[0] in "LNM")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file; repeated headings get -1, -2, … as on GitHub."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set(HTML_ANCHOR.findall(text))
    for heading in HEADING.findall(text):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def test_github_slug_rules():
    assert github_slug("Feature reduction") == "feature-reduction"
    assert github_slug("The `paper` reduction") == "the-paper-reduction"
    assert github_slug("Cohort batch runs (`mirv batch`)") == "cohort-batch-runs-mirv-batch"
    assert github_slug("Volumes and response: ΔV, TSRC") == "volumes-and-response-δv-tsrc"


def test_citation_cff_is_valid():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "preferred-citation"):
        assert citation.get(key), f"CITATION.cff: missing {key}"
    assert all(author.get("name") or author.get("family-names") for author in citation["authors"])
    paper = citation["preferred-citation"]
    assert paper["type"] == "article" and "intrapatient radiomic variability" in paper["title"].lower()
    assert paper["authors"][0]["family-names"] == "Geady" and paper["authors"][-1]["family-names"] == "Haibe-Kains"
    assert paper["year"] == 2025
    for entry in (citation, paper, *citation.get("references", [])):
        if "doi" in entry:
            assert re.fullmatch(r"10\.\d{4,9}/\S+", str(entry["doi"])), entry["doi"]
    if "version" in citation:  # a stated version must be the one `mirv info` reports
        assert str(citation["version"]) == __version__


@pytest.mark.parametrize("document", _markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(document: Path):
    broken = []
    for target in LINK.findall(_prose(document.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.relative_to(REPO)}")
    assert not broken, f"{document.relative_to(REPO)}: " + "; ".join(broken)


def test_methods_are_cited_from_docs_methods_md():
    """The internal methods note ("METHODS" + section sign + number) is not shipped; pointers go to docs/methods.md."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    old_reference = "METHODS " + "\u00a7"  # built, so that this file does not match itself
    found = subprocess.run(["git", "grep", "-n", "-F", old_reference, "--", ".", ":!docs/methods.md"],
                           cwd=REPO, capture_output=True, text=True, check=False)
    assert found.returncode in (0, 1), found.stderr
    assert found.stdout == "", found.stdout


def test_methods_page_has_the_sections_code_points_to():
    sections = anchors(REPO / "docs" / "methods.md")
    assert {"lesion-features", "segmentation-robustness", "feature-reduction", "the-paper-reduction",
            "the-reference-reduction", "z-scoring", "pairwise-distances", "mirv", "volumes-and-response",
            "complete-tumour-response", "lesion-subsampling", "ith-score", "statistics", "deviations"} <= sections


def test_pre_commit_runs_ruff_locally():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] if repo["repo"] == "local" for hook in repo["hooks"]]
    ruff = [hook for hook in hooks if hook["entry"].split()[:2] == ["ruff", "check"]]
    assert ruff and ruff[0]["language"] == "system"

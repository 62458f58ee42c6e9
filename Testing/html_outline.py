"""A report page read back as a reader meets it (standard-library HTML parser: no lxml in the test environment)."""

from __future__ import annotations

from html.parser import HTMLParser


class Outline(HTMLParser):
    """The page as a reader meets it: each heading, <pre>, <summary> label, section, table and image, with how many
    closed ``<details>`` hide it (0 = visible when the page opens)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.parts: list[tuple[str, str, int]] = []
        self._folds = 0
        self._open: tuple[str, list[str]] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "details":
            self._folds += 1
        elif tag in ("section", "img", "table"):
            self.parts.append((tag, attributes.get("id") or attributes.get("src") or "", self._folds))
        elif tag in ("h1", "h2", "h3", "pre", "summary"):
            self._open = (tag, [])

    def handle_endtag(self, tag):
        if tag == "details":
            self._folds -= 1
        elif self._open and tag == self._open[0]:
            own = 1 if tag == "summary" else 0  # a label shows when its own <details> is closed
            self.parts.append((tag, "".join(self._open[1]), self._folds - own))
            self._open = None

    def handle_data(self, data):
        if self._open:
            self._open[1].append(data)

    def find(self, tag: str) -> list[tuple[str, int]]:
        return [(text, folds) for kind, text, folds in self.parts if kind == tag]

"""``HideHiddenTests`` runs in ``nbgrader generate_feedback``: every output line of every cell that quotes a
line of a hidden test (in a traceback, or printed by the student's own code from ``In``/frames, also
base64-, URL- or HTML-encoded) is replaced by a placeholder, before ClearHiddenTests removes the hidden tests
from the cells; Markdown cells are sanitised (nbgrader's templates render them unsanitised)."""
from __future__ import annotations

import base64
import html
import json
import re
import sys
import urllib.parse
from pathlib import Path

from nbconvert.filters import strip_ansi
from nbconvert.preprocessors import Preprocessor

PACKAGE = Path(__file__).resolve().parents[1]

def hidden_test_lines(source: str) -> list[str]:
    hidden, inside = [], False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        if inside and len(line.strip()) >= 4:
            hidden.append(line.strip())
        if "END HIDDEN TESTS" in line:
            inside = False
    return hidden


#: what raw HTML in a Markdown cell may keep (nbgrader's feedback and formgrade templates render Markdown
#: unsanitised, whatever HTMLExporter.sanitize_html says; outputs they do sanitise)
MARKDOWN_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3",
                 "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub",
                 "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul"}
MARKDOWN_ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "title", "width", "height"],
                       "*": ["class", "id", "align"]}
RAW_HTML = re.compile(r"<[A-Za-z!/?]")


def sanitize_markdown(source: str) -> str:
    """A Markdown cell with its raw HTML made harmless: tags and attributes outside an allow-list (script,
    iframe, style, event handlers) escaped to text, links only to http(s), mailto and images' data: URLs.
    Markdown without raw HTML is returned unchanged."""
    if not RAW_HTML.search(source):
        return source
    import bleach

    return bleach.clean(source, tags=MARKDOWN_TAGS, attributes=MARKDOWN_ATTRIBUTES,
                        protocols={"http", "https", "mailto", "data"}, strip=False, strip_comments=True)


def sanitize_markdown_cells(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = sanitize_markdown(cell.source)


#: a run of characters that may be base64 or hex
ENCODED = re.compile(r"[A-Za-z0-9+/_=-]{12,}")


def decodings(text: str, whole: bool = False):
    """``text`` and what it says read as HTML entities, URL quoting, base64 or hex (every run on its own;
    ``whole``: all runs joined, for an encoding wrapped over several lines)."""
    yield text
    if whole:
        runs = ["".join(r.rstrip("=") for r in ENCODED.findall(text))]
    else:
        yield html.unescape(text)
        yield urllib.parse.unquote(text)
        runs = ENCODED.findall(text)
    for run in runs:
        if len(run) < 12:
            continue
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                yield decode(run.rstrip("=") + "=" * (-len(run.rstrip("=")) % 4)).decode("utf-8", "ignore")
            except (ValueError, TypeError):
                pass
        if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", run):
            yield bytes.fromhex(run).decode("utf-8", "ignore")


class HideHiddenTests(Preprocessor):
    """Replace every output line that quotes a hidden test by a placeholder, in every cell: tracebacks of
    graded cells (IPython shows the failing line and its neighbours), and anything a student's code
    printed from the notebook's history or from frames. Runs before ClearHiddenTests, which still sees
    the hidden regions in the cells' sources."""

    enabled = True  # nbconvert preprocessors are off unless enabled
    placeholder = "      (hidden test)"

    def preprocess(self, nb, resources):
        hidden = []
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                lines = hidden_test_lines(cell.source)
                hidden += lines
                if lines:  # only what the grader wrote: the error and the printed text, nothing rich
                    cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") in ("stream", "error")]
        self._hidden = sorted(set(hidden))
        # the grading machine's folders (tracebacks through cnnlib or the libraries) shown relative
        root = self.config.get("CourseDirectory", {}).get("root")
        folders = {str(PACKAGE.parent), sys.prefix, sys.base_prefix, *([root] if isinstance(root, str) and root else [])}
        self._folders = sorted((f.rstrip("/") + "/" for f in folders if len(f) > 1), key=len, reverse=True)
        sanitize_markdown_cells(nb)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                self._scrub(out)
        return nb, resources

    def _quotes(self, text: str) -> bool:
        return any(h in text for h in self._hidden)

    def _clean(self, text: str) -> str:
        for folder in self._folders:
            text = text.replace(folder, "")
        if not self._hidden:
            return text
        lines = text.split("\n")
        lines = [self.placeholder if any(self._quotes(d) for d in decodings(strip_ansi(ln))) else ln for ln in lines]
        if self._hidden and any(self._quotes(d) for d in decodings(text, whole=True)):
            # encoded across lines (base64 wrapped, say): every line holding an encoded run goes
            lines = [self.placeholder if ENCODED.search(ln) else ln for ln in lines]
        return "\n".join(lines)

    def _scrub(self, out) -> None:
        if out.get("output_type") == "error":
            out["traceback"] = [self._clean(entry) for entry in out.get("traceback", [])]
            out["evalue"] = self._clean(out.get("evalue", ""))
        if "text" in out:
            text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
            out["text"] = self._clean(text)
        for mime, value in (out.get("data") or {}).items():
            if mime.startswith("text/") or mime.endswith("json"):
                text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else json.dumps(value)
                cleaned = self._clean(text)
                if cleaned != text:
                    out["data"][mime] = cleaned


#: the feedback preprocessor under its former name (nbgrader_config.py used to define it)
HideHiddenTestsInTracebacks = HideHiddenTests

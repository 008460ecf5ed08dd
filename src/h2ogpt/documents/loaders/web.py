"""HTML with BeautifulSoup: the visible text, block by block, tables as rows; title from <title>."""

from __future__ import annotations

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from langchain_core.documents import Document

from h2ogpt.documents.loaders.common import CELL_SEPARATOR, make_doc, tidy
from h2ogpt.documents.loaders.registry import RegisterHook, Source

HIDDEN_TAGS = ("script", "style", "noscript", "template", "head", "iframe", "svg", "canvas", "button")
BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
        "br",
        "caption",
        "details",
    ]
)


def _table_text(table: Tag) -> str:
    """Rows of a table as ``a | b`` lines (nested tables flattened into their cell)."""
    lines = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue
        cells = [" ".join(c.get_text(" ").split()) for c in row.find_all(["td", "th"], recursive=False)]
        if any(cells):
            lines.append(CELL_SEPARATOR.join(cells))
    return "\n".join(lines)


def strip_hidden(soup: BeautifulSoup) -> None:
    """Remove what a browser does not show: scripts, styles, comments, hidden elements."""
    for tag in soup.find_all(HIDDEN_TAGS):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(style=True):
        if tag.decomposed:
            continue
        style = str(tag.get("style", "")).replace(" ", "").lower()
        if "display:none" in style or "visibility:hidden" in style:
            tag.decompose()


def html_title(soup: BeautifulSoup) -> str | None:
    """The <title> text, if any."""
    tag = soup.find("title")
    text = " ".join(tag.get_text().split()) if tag else ""
    return text or None


def soup_text(soup: BeautifulSoup) -> str:
    """Visible text with a line break after each block element; tables as rows."""
    for table in reversed(soup.find_all("table")):  # innermost first
        table.replace_with(NavigableString("\n" + _table_text(table) + "\n"))
    for tag in soup.find_all(BLOCK_TAGS):
        tag.append("\n")
    body = soup.body or soup
    return tidy(body.get_text())


def html_to_text(markup: str | bytes) -> tuple[str | None, str]:
    """(title, visible text) of an HTML page."""
    soup = BeautifulSoup(markup, "html.parser")
    title = html_title(soup)
    strip_hidden(soup)
    return title, soup_text(soup)


def load_html(source: Source) -> list[Document]:
    """An HTML page as one document titled by its <title>."""
    title, text = html_to_text(source.read_bytes())
    return [make_doc(text, source, title)]


def register(add: RegisterHook) -> None:
    """Register the HTML loader."""
    add((".html", ".htm", ".xhtml", ".shtml"), load_html)

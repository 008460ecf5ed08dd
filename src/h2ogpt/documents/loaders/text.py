"""Plain text, Markdown and source code: the text as written (code blocks kept)."""

from __future__ import annotations

import re

from langchain_core.documents import Document

from h2ogpt.documents.loaders.common import decode_text, make_doc
from h2ogpt.documents.loaders.registry import RegisterHook, Source

PLAIN_EXTENSIONS = (".txt", ".text", ".log", ".rst", ".tex", ".xml", ".svg")
MARKDOWN_EXTENSIONS = (".md", ".markdown", ".mdx")
CODE_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".ipy": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript",
    ".java": "java", ".kt": "kotlin", ".kts": "kotlin", ".scala": "scala", ".groovy": "groovy",
    ".c": "c", ".h": "c", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".cs": "csharp", ".go": "go", ".rs": "rust", ".rb": "ruby", ".php": "php", ".pl": "perl",
    ".swift": "swift", ".m": "objective-c", ".r": "r", ".jl": "julia", ".lua": "lua", ".dart": "dart",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".fish": "shell", ".ps1": "powershell",
    ".bat": "batch", ".cmd": "batch", ".sql": "sql", ".proto": "protobuf", ".graphql": "graphql",
    ".css": "css", ".scss": "scss", ".less": "less", ".vue": "vue", ".svelte": "svelte",
    ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".ini": "ini", ".cfg": "ini", ".conf": "ini",
    ".properties": "properties", ".gradle": "groovy", ".cmake": "cmake", ".mk": "make",
    ".tf": "terraform", ".dockerfile": "dockerfile",
}  # fmt: skip

_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def load_plain(source: Source) -> list[Document]:
    """A text file as one document."""
    return [make_doc(decode_text(source.read_bytes(), source), source)]


def load_markdown(source: Source) -> list[Document]:
    """Markdown kept as written (fenced code included); title from the first heading."""
    text = decode_text(source.read_bytes(), source)
    heading = _MD_HEADING.search(text)
    return [make_doc(text, source, title=heading.group(1) if heading else None)]


def load_code(source: Source) -> list[Document]:
    """A source file as one document, with its ``language``."""
    text = decode_text(source.read_bytes(), source)
    return [make_doc(text, source, language=CODE_LANGUAGES.get(source.ext, "text"))]


def register(add: RegisterHook) -> None:
    """Register the text, Markdown and code loaders."""
    add(PLAIN_EXTENSIONS, load_plain)
    add(MARKDOWN_EXTENSIONS, load_markdown)
    add(tuple(CODE_LANGUAGES), load_code)

"""Document loaders on the shared real files (../shared/data/docs) and on files made here.

Every manifest snippet must be found in the loaded text (whitespace runs collapsed), images
included (OCR with the models shipped in rapidocr-onnxruntime, loaded once per process).
URLs are fetched only from a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from h2ogpt import plugins
from h2ogpt.documents.loaders import (
    DocumentLoadError,
    archive,
    load_file,
    load_paths,
    load_url,
    supported_extensions,
)
from h2ogpt.documents.loaders.common import make_doc
from support.paths import SHARED_DATA

DOCS = SHARED_DATA / "docs"
# without the shared data, one placeholder entry: its test then fails at setup, saying why
MANIFEST = (
    json.loads((DOCS / "manifest.json").read_text())
    if (DOCS / "manifest.json").is_file()
    else [{"file": "shared-data-missing"}]
)
BY_FILE = {entry["file"]: entry for entry in MANIFEST}
DAMAGED = "append-page-content-damaged.pdf"
ENCRYPTED = "password.pdf"
JSON_SCALARS = (str, int, float, bool)


def flat(docs) -> str:
    """All text of some documents with whitespace runs collapsed, as the manifest says."""
    return re.sub(r"\s+", " ", " ".join(d.page_content for d in docs))


@pytest.fixture(scope="module")
def folder():
    """The whole shared folder loaded once (OCR included): (docs by source, failures)."""
    docs, failures = load_paths([DOCS])
    by_source: dict[str, list] = {}
    for doc in docs:
        by_source.setdefault(doc.metadata["source"], []).append(doc)
    return by_source, failures


def docs_of(folder, name: str) -> list:
    return folder[0].get(str(DOCS / name), [])


# --- the shared files ------------------------------------------------------------------------


def test_supported_extensions_cover_the_formats():
    expected = {".pdf", ".docx", ".xlsx", ".xls", ".csv", ".tsv", ".pptx", ".html", ".md", ".txt", ".py"}
    expected |= {".json", ".jsonl", ".epub", ".odt", ".rtf", ".eml", ".png", ".jpg", ".jpeg", ".tiff"}
    assert expected | {".bmp", ".zip", ".sql", ".yaml", ".toml", ".rs", ".go"} <= supported_extensions()


@pytest.mark.shared_data
@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"])
def test_every_manifest_snippet_is_found(folder, entry):
    if entry.get("broken"):  # no snippets: it must be a named failure, and nothing loaded
        assert not docs_of(folder, entry["file"])
        assert str(DOCS / entry["file"]) in {f.source for f in folder[1]}
        return
    docs = load_file(DOCS / entry["file"], password=entry["password"]) if entry.get("encrypted") else None
    text = flat(docs or docs_of(folder, entry["file"]))
    missing = [s for s in entry["expected_text_snippets"] if s not in text]
    assert not missing, f"{entry['file']}: {missing} not in {text[:600]!r}"


@pytest.mark.shared_data
def test_folder_loads_everything_but_the_two_bad_pdfs(folder):
    by_source, failures = folder
    assert sorted(Path(f.source).name for f in failures) == sorted([DAMAGED, ENCRYPTED])
    for entry in MANIFEST:
        if entry["file"] not in (DAMAGED, ENCRYPTED):
            assert docs_of(folder, entry["file"]), entry["file"]
    assert str(DOCS / "README.md") in by_source  # the folder's other files too


@pytest.mark.shared_data
def test_every_document_keeps_the_metadata_contract(folder):
    for source, docs in folder[0].items():
        for doc in docs:
            meta = doc.metadata
            assert meta["source"] == source and isinstance(meta["title"], str) and meta["title"]
            assert all(isinstance(v, JSON_SCALARS) for v in meta.values()), meta
            if "page" in meta:
                assert isinstance(meta["page"], int) and meta["page"] >= 1
            assert doc.page_content.strip()


@pytest.mark.shared_data
def test_pdf_has_one_document_per_page(folder):
    pages = [d.metadata["page"] for d in docs_of(folder, "multi-column.pdf")]
    assert pages == list(range(1, BY_FILE["multi-column.pdf"]["pages"] + 1))
    page = next(d for d in docs_of(folder, "multi-column.pdf") if "Table 1:" in d.page_content)
    assert "\nSQuAD 78,713 70,096 8,886 10,570\n" in page.page_content  # a table row on its line


@pytest.mark.shared_data
def test_pptx_slides_are_pages(folder):
    docs = docs_of(folder, "sample-presentation.pptx")
    assert [d.metadata["page"] for d in docs] == [1, 2, 3, 4]
    assert docs[1].metadata["slide_title"] == "This is the first content slide"
    assert "1 | A1 | B1 | C1" in docs[3].page_content


@pytest.mark.shared_data
def test_xlsx_sheets_are_pages_with_names(folder):
    docs = docs_of(folder, "stanley-cups.xlsx")
    assert [(d.metadata["page"], d.metadata["sheet"]) for d in docs] == [
        (1, "Stanley Cups"),
        (2, "Stanley Cups Since 67"),
    ]
    assert "Maple Leafs | TOR | 13" in docs[0].page_content


@pytest.mark.shared_data
def test_tables_become_rows(folder):
    assert "Header Col 1 | Header Col 2" in docs_of(folder, "docx-tables.docx")[0].page_content
    assert "Row 1, Cell 1 | Row 1, Cell 2" in docs_of(folder, "fake-html.html")[0].page_content
    assert "Color | Blue | Red | Green" in docs_of(folder, "fake.odt")[0].page_content
    assert "Row 2, Cell 1 | Row 2, Cell 2" in docs_of(folder, "fake-doc.rtf")[0].page_content
    assert "Dexterity | 5 | 4 | 1 | 98.3%, n=4" in flat(
        docs_of(folder, "table-multi-row-column-cells-actual.csv")
    )


@pytest.mark.shared_data
def test_markdown_json_and_email(folder):
    assert "```xml" in docs_of(folder, "codeblock.md")[0].page_content
    assert "text: These are a few of my favorite things:" in docs_of(folder, "simple.json")[0].page_content
    mail, attachment = docs_of(folder, "fake-email-attachment.eml")
    assert mail.metadata["title"] == "Fake email with attachment"
    assert attachment.metadata["attachment"] == "fake-attachment.txt"
    assert attachment.page_content.strip() == "Hey this is a fake attachment!"


@pytest.mark.shared_data
def test_images_are_read_by_ocr_with_table_rows(folder):
    png = docs_of(folder, "table-multi-row-column-cells.png")
    assert png[0].metadata["ocr"] is True
    assert "Low Vision | 5 | 2 | 3 | 98.3% n=2 | 1716 sec, n=3" in flat(png)
    assert "10 | 0.0382 | 0.0086 | -0.5356" in flat(docs_of(folder, "embedded-images-tables.jpg"))


# --- encrypted and damaged files -----------------------------------------------------------------


@pytest.mark.shared_data
def test_encrypted_pdf_needs_its_password():
    with pytest.raises(DocumentLoadError, match=r"encrypted.*password") as info:
        load_file(DOCS / ENCRYPTED)
    assert info.value.source == str(DOCS / ENCRYPTED)
    with pytest.raises(DocumentLoadError, match="wrong"):
        load_file(DOCS / ENCRYPTED, password="not-it")
    docs = load_file(DOCS / ENCRYPTED, password="password")
    assert "File with password" in flat(docs) and docs[0].metadata["page"] == 1


@pytest.mark.shared_data
def test_passwords_in_a_batch_are_found_by_file_name():
    docs, failures = load_paths([DOCS / ENCRYPTED], passwords={ENCRYPTED: "password"})
    assert not failures and "File with password" in flat(docs)


@pytest.mark.shared_data
def test_damaged_pdf_is_a_named_failure():
    with pytest.raises(DocumentLoadError, match="damaged PDF") as info:
        load_file(DOCS / DAMAGED)
    assert DAMAGED in str(info.value)


@pytest.mark.parametrize("ext", [".pdf", ".docx", ".pptx", ".xlsx", ".xls", ".epub", ".odt", ".png", ".zip"])
def test_garbage_in_any_format_fails_cleanly(tmp_path, ext):
    bad = tmp_path / f"bad{ext}"
    bad.write_bytes(b"this is not what the extension says\n" * 20)
    with pytest.raises(DocumentLoadError) as info:
        load_file(bad)
    assert info.value.source == str(bad) and info.value.reason


def test_unsupported_missing_empty_and_binary_files(tmp_path):
    (tmp_path / "notes.xyz").write_text("hello")
    with pytest.raises(DocumentLoadError, match=r"unsupported file type '\.xyz'"):
        load_file(tmp_path / "notes.xyz")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DocumentLoadError, match=r"save it as \.docx"):
        load_file(tmp_path / "old.doc")
    with pytest.raises(DocumentLoadError, match="file not found"):
        load_file(tmp_path / "missing.pdf")
    with pytest.raises(DocumentLoadError, match="is a folder"):
        load_file(tmp_path)
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(DocumentLoadError, match="no text"):
        load_file(tmp_path / "empty.txt")
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(DocumentLoadError, match="binary"):
        load_file(tmp_path / "blob.txt")


# --- folders and archives --------------------------------------------------------------------


@pytest.mark.shared_data
def test_folders_are_walked_and_hidden_files_skipped(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    shutil.copy(DOCS / "fake-memo.pdf", tmp_path / "a" / "b")
    (tmp_path / "a" / "notes.py").write_text("def answer():\n    return 42\n")
    (tmp_path / "a" / "Makefile").write_text("test:\n\tpytest\n")
    (tmp_path / "a" / "core").write_bytes(b"\x7fELF\x00\x00")
    (tmp_path / "a" / "latin.txt").write_bytes("café crème".encode("cp1252"))
    (tmp_path / ".hidden.txt").write_text("secret")
    (tmp_path / ".git" / "config").write_text("[core]")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nothing else")
    docs, failures = load_paths([tmp_path, tmp_path / "nowhere"])
    sources = {d.metadata["source"] for d in docs}
    assert sources == {
        f"{tmp_path}/a/{name}" for name in ("b/fake-memo.pdf", "notes.py", "latin.txt", "Makefile")
    }
    assert {Path(f.source).name for f in failures} == {"broken.pdf", "nowhere", "core"}
    assert next(d for d in docs if d.metadata["source"].endswith(".py")).metadata["language"] == "python"
    assert "café crème" in flat(docs)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.shared_data
def test_zip_archives_load_recursively(tmp_path):
    inner = _zip(tmp_path / "inner.zip", {"deep/fake-doc.rtf": (DOCS / "fake-doc.rtf").read_bytes()})
    outer = _zip(
        tmp_path / "bundle.zip",
        {
            "docs/fake-memo.pdf": (DOCS / "fake-memo.pdf").read_bytes(),
            "docs/docx-tables.docx": (DOCS / "docx-tables.docx").read_bytes(),
            "nested/inner.zip": inner.read_bytes(),
            "__MACOSX/._junk": b"junk",
            "odd.xyz": b"unsupported",
        },
    )
    docs, failures = load_paths([outer])
    by_source = {d.metadata["source"]: d for d in docs}
    assert set(by_source) == {
        f"{outer}/docs/fake-memo.pdf",
        f"{outer}/docs/docx-tables.docx",
        f"{outer}/nested/inner.zip/deep/fake-doc.rtf",
    }
    assert by_source[f"{outer}/docs/fake-memo.pdf"].metadata["page"] == 1
    assert "Row 2, Cell 2" in by_source[f"{outer}/nested/inner.zip/deep/fake-doc.rtf"].page_content
    assert [(f.source, "unsupported" in f.reason) for f in failures] == [(f"{outer}/odd.xyz", True)]


def test_zip_bomb_limits(tmp_path, monkeypatch):
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.txt": b"0" * (3 * 1024**2), "ok.txt": b"fine"})
    docs, failures = load_paths([bomb])
    assert [d.page_content for d in docs] == ["fine"]
    assert "too compressed" in failures[0].reason
    monkeypatch.setattr(archive, "MAX_MEMBERS", 2)
    many = _zip(tmp_path / "many.zip", {f"{i}.txt": b"x" for i in range(3)})
    with pytest.raises(DocumentLoadError, match="too large to unpack safely"):
        load_file(many)
    monkeypatch.setattr(archive, "MAX_DEPTH", 1)
    nested = _zip(
        tmp_path / "nested.zip", {"in.zip": _zip(tmp_path / "in.zip", {"a.txt": b"a"}).read_bytes()}
    )
    with pytest.raises(DocumentLoadError, match="no member"):
        load_file(nested)


# --- OCR of scanned PDFs, plugins ------------------------------------------------------------


@pytest.mark.shared_data
def test_scanned_pdf_page_is_ocred(tmp_path):
    crop = Image.open(DOCS / "table-multi-row-column-cells.png").convert("RGB").crop((40, 30, 700, 450))
    crop.save(tmp_path / "scan.pdf")
    docs = load_file(tmp_path / "scan.pdf")
    assert docs[0].metadata["page"] == 1 and docs[0].metadata["ocr"] is True
    assert "Disability Category" in flat(docs) and "Low Vision" in flat(docs)


@pytest.mark.shared_data
def test_multi_page_tiff_frames_are_pages(tmp_path):
    table = Image.open(DOCS / "table-multi-row-column-cells.png").convert("RGB")
    rows = [table.crop((40, 30, 700, 440)), table.crop((40, 440, 700, 648))]
    rows[0].save(tmp_path / "scan.tiff", save_all=True, append_images=rows[1:])
    docs = load_file(tmp_path / "scan.tiff")
    assert [(d.metadata["page"], d.metadata["pages"]) for d in docs] == [(1, 2), (2, 2)]
    assert "Blind | 5 | 1" in docs[0].page_content and "Dexterity | 5 | 4" in docs[1].page_content


def test_ocr_engine_is_loaded_once(tmp_path):
    from PIL import ImageDraw

    from h2ogpt.documents.loaders import ocr

    image = Image.new("RGB", (480, 120), "white")
    ImageDraw.Draw(image).text((20, 40), "Loaded once", fill="black", font_size=40)
    image.save(tmp_path / "one.png")
    image.save(tmp_path / "two.png")
    load_file(tmp_path / "one.png")
    load_file(tmp_path / "two.png")
    assert ocr._engine.cache_info().currsize == 1


def test_code_registers_a_loader_for_a_new_extension(tmp_path):
    plugins.add_loader(".note", lambda src: [make_doc(src.read_bytes().decode().upper(), src, kind="note")])
    (tmp_path / "a.note").write_text("shout")
    (doc,) = load_file(tmp_path / "a.note")
    assert doc.page_content == "SHOUT" and doc.metadata["kind"] == "note"


# --- URLs, from a loopback server only ----------------------------------------------------------

PAGE = b"<html><head><title>Loopback page</title><script>var x = 1;</script></head><body><p>Served on 127.0.0.1</p></body></html>"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(DOCS), **kwargs)

    def do_GET(self):
        if self.path == "/page":  # no extension: the content type decides
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.mark.shared_data
def test_load_url_dispatches_on_content_type(server):
    html = load_url(f"{server}/page")
    assert html[0].metadata == {"source": f"{server}/page", "title": "Loopback page"}
    assert html[0].page_content == "Served on 127.0.0.1"
    pdf = load_url(f"{server}/fake-memo.pdf")
    assert pdf[0].metadata["page"] == 1 and "3 trucks were used" in flat(pdf)


def test_load_url_errors_name_the_url(server):
    with pytest.raises(DocumentLoadError, match="HTTP 404") as info:
        load_url(f"{server}/missing.html")
    assert info.value.source == f"{server}/missing.html"
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DocumentLoadError, match="offline or unreachable") as info:
        load_url(f"http://127.0.0.1:{port}/doc.pdf")
    assert info.value.source == f"http://127.0.0.1:{port}/doc.pdf"
    with pytest.raises(DocumentLoadError, match="only http"):
        load_url("file:///etc/passwd")


ODS = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>
<table:table table:name="Prices"><table:table-row><table:table-cell><text:p>Fruit</text:p></table:table-cell>
<table:table-cell><text:p>Price</text:p></table:table-cell></table:table-row><table:table-row>
<table:table-cell><text:p>Apple</text:p></table:table-cell><table:table-cell><text:p>3</text:p></table:table-cell>
</table:table-row></table:table><table:table table:name="Empty"/></office:spreadsheet></office:body>
</office:document-content>"""


def test_small_formats_made_here(tmp_path):
    ods = _zip(tmp_path / "book.ods", {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"})
    with zipfile.ZipFile(ods, "a") as zf:
        zf.writestr("content.xml", ODS)
    (doc,) = load_file(ods)
    assert doc.metadata["sheet"] == "Prices" and doc.metadata["page"] == 1
    assert doc.page_content == "Fruit | Price\nApple | 3"
    (tmp_path / "log.jsonl").write_text(
        '{"user": "ann", "msg": "hello"}\n\n{"user": "bob", "tags": [1, 2]}\n'
    )
    assert (
        load_file(tmp_path / "log.jsonl")[0].page_content
        == "user: ann\nmsg: hello\n\nuser: bob\ntags: 1\ntags: 2"
    )
    (tmp_path / "t.tsv").write_text("a\tb, c\n1\t2\n")
    assert load_file(tmp_path / "t.tsv")[0].page_content == "a | b, c\n1 | 2"
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(DocumentLoadError, match="not valid JSON"):
        load_file(tmp_path / "bad.json")


def test_csv_is_cut_in_blocks_that_repeat_the_header(tmp_path):
    rows = "\n".join(f"{i},name {i}" for i in range(450))
    (tmp_path / "big.csv").write_text("id,name\n" + rows)
    docs = load_file(tmp_path / "big.csv")
    assert [d.metadata["row"] for d in docs] == [2, 202, 402]
    assert all(d.page_content.startswith("id | name\n") for d in docs)
    assert docs[-1].page_content.endswith("449 | name 449")

"""Captioning images in documents: with --visible_vision_models, an ingested image gets the vision
model's description (the loopback fake vision server, which decodes the pixels) beside its OCR
text, so a picture without text is found by what it shows; a failing vision server never fails
the document."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from PIL import Image

from h2ogpt.documents.embeddings import Embedder
from h2ogpt.documents.library import DocumentLibrary
from h2ogpt.settings import Settings
from support.fake_vision import VISION_MODEL_ID, png, text_png
from support.ui_driver import free_port

DISTRACTORS = {
    "volcano.txt": "Volcanoes erupt when magma rises through the crust. Lava flows and ash clouds follow.",
    "baking.txt": "To bake bread, mix flour, water, salt and yeast, then bake it until golden brown.",
}


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.from_settings(Settings())


def library(tmp_path: Path, embedder: Embedder, vision: str) -> DocumentLibrary:
    settings = Settings(data_dir=tmp_path / "data", visible_vision_models=vision)
    return DocumentLibrary(settings, embedder=embedder)


def corpus(folder: Path, images: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DISTRACTORS.items():
        (folder / name).write_text(text, encoding="utf-8")
    for name, data in images.items():
        (folder / name).write_bytes(data)
    return folder


def test_a_photo_without_text_is_found_by_its_description(tmp_path, embedder, fake_vision) -> None:
    fake_vision.reset()
    docs = library(tmp_path, embedder, f"vllm_chat:{fake_vision.url}")
    folder = corpus(tmp_path / "in", {"square.png": png("red", (96, 64))})
    report = docs.ingest([folder], collection="Photos")
    assert not report.failed, report.failed
    hits = docs.search("Photos", "red", k=1)
    assert Path(hits[0].source).name == "square.png"
    assert f"Image description by {VISION_MODEL_ID}: Image 1: a red image, 96x64." in hits[0].text
    sent = fake_vision.image_requests()
    assert len(sent) == 1  # the image, once; the text files were not sent
    assert "search index" in fake_vision.questions()[-1]
    # the same question through the vector search alone finds it too
    hits = docs.search("Photos", "a red picture", k=1, mode="vector")
    assert Path(hits[0].source).name == "square.png"
    docs.close()


def test_without_a_vision_model_a_photo_is_not_captioned(tmp_path, embedder, fake_vision) -> None:
    fake_vision.reset()
    docs = library(tmp_path, embedder, "")
    folder = corpus(tmp_path / "in", {"words.png": text_png(["Harbour invoice"])})
    report = docs.ingest([folder], collection="Photos")
    assert not report.failed, report.failed
    hits = docs.search("Photos", "harbour invoice", k=1)
    assert Path(hits[0].source).name == "words.png"
    assert "Image description" not in hits[0].text
    assert not fake_vision.state.requests
    docs.close()


def test_a_failing_vision_server_leaves_the_ocr_text(tmp_path, embedder, fake_vision, caplog) -> None:
    fake_vision.reset()
    fake_vision.state.fail_status, fake_vision.state.fail_times = 500, 1000
    docs = library(tmp_path, embedder, f"vllm_chat:{fake_vision.url}")
    images = {"first.png": text_png(["Harbour invoice"]), "second.png": text_png(["Lighthouse ledger"])}
    folder = corpus(tmp_path / "in", images)
    with caplog.at_level(logging.WARNING, logger="h2ogpt.documents.loaders.captions"):
        report = docs.ingest([folder], collection="Photos")
    assert not report.failed, report.failed
    assert {Path(r.source).name for r in report.ok} >= set(images)
    for query, name in (("harbour invoice", "first.png"), ("lighthouse ledger", "second.png")):
        hit = docs.search("Photos", query, k=1)[0]
        assert Path(hit.source).name == name and "Image description" not in hit.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("could not describe the image" in w and "OCR text only" in w for w in warnings), warnings
    # the first failure stops captioning for the rest of the ingest: one image tried (with one retry)
    assert len(fake_vision.state.posts("/chat/completions")) <= 2
    docs.close()


def test_an_unreachable_vision_server_leaves_the_ocr_text(tmp_path, embedder) -> None:
    docs = library(tmp_path, embedder, f"vllm_chat:http://127.0.0.1:{free_port()}/v1")
    folder = corpus(tmp_path / "in", {"words.png": text_png(["Harbour invoice"])})
    report = docs.ingest([folder], collection="Photos")
    assert not report.failed, report.failed
    hit = docs.search("Photos", "harbour invoice", k=1)[0]
    assert Path(hit.source).name == "words.png"
    docs.close()


def test_a_scanned_pdf_pages_photo_is_described(tmp_path, embedder, fake_vision) -> None:
    fake_vision.reset()
    docs = library(tmp_path, embedder, f"vllm_chat:{fake_vision.url}")
    out = io.BytesIO()
    Image.open(io.BytesIO(png("blue", (120, 80)))).save(out, "PDF")
    folder = corpus(tmp_path / "in", {"scan.pdf": out.getvalue()})
    report = docs.ingest([folder], collection="Scans")
    assert not report.failed, report.failed
    hit = docs.search("Scans", "blue", k=1)[0]
    assert Path(hit.source).name == "scan.pdf" and hit.page == 1
    assert "a blue image, 120x80" in hit.text
    docs.close()

"""Images in a question, in headless Chromium: the UI with the embedded local model (it cannot
see) and --visible_vision_models pointing at the loopback fake vision server, which decodes the
pixels and names each image's dominant colour and size; and a UI without a vision model, where
an image of printed text is answered from its OCR text with the note that it was not seen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from h2ogpt.settings import Settings
from support.fake_vision import VISION_MODEL_ID, png, text_png
from support.ui_driver import ANSWER_TIMEOUT_MS, ask, bot_messages, open_chat, wait_until_saved
from support.ui_fixtures import serve_ui


@pytest.fixture(scope="module")
def vision_ui_url(ui_settings: Settings, backend, fake_vision, tmp_path_factory) -> Iterator[str]:
    """A UI of its own whose vision model is the fake (the shared UI fixtures stay without one)."""
    data_dir = tmp_path_factory.mktemp("ui-vision-data")
    demo, url = serve_ui(
        ui_settings, backend, data_dir=data_dir, visible_vision_models=f"vllm_chat:{fake_vision.url}"
    )
    yield url
    demo.close()


@pytest.fixture(scope="module")
def ocr_ui_url(ui_settings: Settings, backend, tmp_path_factory) -> Iterator[str]:
    """A UI of its own with no vision model: images are read by OCR."""
    data_dir = tmp_path_factory.mktemp("ui-ocr-data")
    demo, url = serve_ui(ui_settings, backend, data_dir=data_dir, max_new_tokens=12)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pictures")
    (folder / "red.png").write_bytes(png("red", (64, 64)))
    (folder / "blue.png").write_bytes(png("blue", (32, 48)))
    (folder / "total.png").write_bytes(text_png(["Total 93 EUR"]))
    (folder / "notes.png").write_text("not a picture at all", encoding="utf-8")
    return folder


def attach(page: Page, *paths: Path) -> None:
    """Attach images and wait until each is uploaded (listed in the attach box)."""
    box = page.locator("#attach-images")
    box.locator("input[type=file]").set_input_files(list(paths))
    for path in paths:
        expect(box.get_by_role("row", name=re.compile(re.escape(path.name)))).to_have_count(1)


def thumbnails(page: Page, message: int = -1):
    return page.locator("#chatbot-0 .message.user").nth(message).locator(".attached-images img")


def thumbnail_pixels(page: Page) -> list[list[int]]:
    """The centre pixel of every thumbnail of the last question, read through a canvas."""
    return thumbnails(page).evaluate_all(
        """imgs => imgs.map(img => { const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight; const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        return Array.from(g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3)); })"""
    )


def assert_reddish(rgb: list[int]) -> None:
    assert rgb[0] > 200 and rgb[1] < 60 and rgb[2] < 60, rgb


def test_an_attached_red_square_is_described_as_red(page: Page, vision_ui_url, fake_vision, pictures) -> None:
    fake_vision.reset()
    open_chat(page, vision_ui_url)
    attach(page, pictures / "red.png")
    question = "What colour is this?"
    ask(page, question)
    wait_until_saved(page, question)
    # the question shows its thumbnail, and the attach box is empty again
    expect(thumbnails(page)).to_have_count(1)
    page.wait_for_function("() => document.querySelector('#chatbot-0 .attached-images img').naturalWidth > 0")
    assert_reddish(thumbnail_pixels(page)[0])
    expect(page.locator("#attach-images").get_by_role("row", name=re.compile("red.png"))).to_have_count(0)
    # the fake vision model looked at the pixels, with the question; the answer says so
    line = bot_messages(page).last.locator(".images-read")
    expect(line).to_contain_text(f"1 image described by {VISION_MODEL_ID}")
    expect(line).to_contain_text("Image 1: a red image, 64x64.")
    sent = fake_vision.image_requests()
    assert len(sent) == 1 and question in fake_vision.questions()[-1]
    # reopened from the sidebar, the saved chat still shows the thumbnail and the line
    page.locator("#new-chat").click()
    expect(page.locator("#chatbot-0 .message")).to_have_count(0)
    page.locator("#saved-chats label").filter(has_text=question).click()
    expect(thumbnails(page)).to_have_count(1)
    page.wait_for_function("() => document.querySelector('#chatbot-0 .attached-images img').naturalWidth > 0")
    assert_reddish(thumbnail_pixels(page)[0])
    expect(bot_messages(page).last.locator(".images-read")).to_contain_text("a red image")


def test_two_images_arrive_in_order(page: Page, vision_ui_url, fake_vision, pictures) -> None:
    fake_vision.reset()
    open_chat(page, vision_ui_url)
    attach(page, pictures / "red.png", pictures / "blue.png")
    question = "Which colours do these two pictures have?"
    ask(page, question)
    wait_until_saved(page, question)
    expect(thumbnails(page)).to_have_count(2)
    expect(bot_messages(page).last.locator(".images-read")).to_contain_text(
        "Image 1: a red image, 64x64. Image 2: a blue image, 32x48."
    )
    (body,) = fake_vision.image_requests()
    parts = [p for p in body["messages"][-1]["content"] if p["type"] == "image_url"]
    assert len(parts) == 2


def test_a_pasted_image_is_attached(page: Page, vision_ui_url, fake_vision, pictures) -> None:
    fake_vision.reset()
    open_chat(page, vision_ui_url)
    data = list((pictures / "red.png").read_bytes())
    page.locator("#question textarea").evaluate(
        """(box, bytes) => { const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], 'pasted.png', {type: 'image/png'}));
        box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true})); }""",
        data,
    )
    expect(page.locator("#attach-images").get_by_role("row", name=re.compile("pasted.png"))).to_have_count(1)
    question = "Describe the pasted picture."
    ask(page, question)
    wait_until_saved(page, question)
    expect(bot_messages(page).last.locator(".images-read")).to_contain_text("a red image, 64x64")


def test_a_bad_image_is_refused_and_nothing_is_sent(page: Page, vision_ui_url, fake_vision, pictures) -> None:
    fake_vision.reset()
    open_chat(page, vision_ui_url)
    attach(page, pictures / "notes.png")
    ask(page, "What is in this file?")
    expect(
        page.get_by_text(re.compile(r"Not sent: image 1 \(notes\.png\): not an image")).first
    ).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#chatbot-0 .message")).to_have_count(0)
    expect(page.locator("#question textarea")).to_have_value("What is in this file?")  # kept to fix
    expect(page.locator("#attach-images").get_by_role("row", name=re.compile("notes.png"))).to_have_count(1)
    assert not fake_vision.state.posts("/chat/completions")


def test_without_a_vision_model_the_printed_text_is_read_by_ocr(page: Page, ocr_ui_url, pictures) -> None:
    open_chat(page, ocr_ui_url)
    attach(page, pictures / "total.png")
    question = "What is the total on this receipt?"
    ask(page, question)
    wait_until_saved(page, question)
    answer = bot_messages(page).last
    expect(answer).to_contain_text("the image itself was not seen (no vision model is configured)")
    line = answer.locator(".images-read")
    expect(line).to_contain_text("1 image not seen")
    expect(line).to_contain_text("OCR (RapidOCR)")
    expect(line).to_contain_text(re.compile(r"Total\s*93\s*EUR"))
    expect(thumbnails(page)).to_have_count(1)

"""The Images tab in headless Chromium: the UI launched with --image_server pointing at the real
loopback fake image server (tests/support/fake_image_server.py), which renders solid PNGs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from h2ogpt.settings import Settings
from support.fake_image_server import MISBEHAVE, FakeImageServer, colour_for
from support.ui_driver import ANSWER_TIMEOUT_MS, choose, set_number
from support.ui_fixtures import serve_ui


@pytest.fixture(scope="module")
def image_server() -> Iterator[FakeImageServer]:
    with FakeImageServer() as server:
        yield server


@pytest.fixture(scope="module")
def images_ui_url(ui_settings: Settings, backend, image_server, tmp_path_factory) -> Iterator[str]:
    """A UI of its own, started with --image_server (the shared UI fixtures stay without it)."""
    data_dir = tmp_path_factory.mktemp("ui-images-data")
    demo, url = serve_ui(ui_settings, backend, data_dir=data_dir, image_server=image_server.flag)
    yield url
    demo.close()


def _set_size(page: Page, size: str) -> None:
    """Type a size into the dropdown (a custom value) and leave it, so the page holds it."""
    box = page.locator("#image-size input")
    box.fill(size)
    box.press("Enter")
    box.press("Tab")
    expect(box).to_have_value(size)


def _open_images(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("tab", name="Images").click()
    expect(page.locator("#image-prompt textarea")).to_be_visible()


def _gallery_images(page: Page):
    return page.locator("#image-gallery img")


def _natural_sizes(page: Page) -> list[tuple[int, int]]:
    return page.locator("#image-gallery img").evaluate_all(
        "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])"
    )


def _pixel(page: Page, index: int) -> list[int]:
    """The centre pixel of the gallery's ``index``-th image, read through a canvas."""
    return (
        page.locator("#image-gallery img")
        .nth(index)
        .evaluate(
            """img => { const c = document.createElement('canvas'); c.width = img.naturalWidth;
        c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        return Array.from(g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3)); }"""
        )
    )


def test_the_images_tab_generates_and_shows_the_images(page: Page, images_ui_url, image_server) -> None:
    _open_images(page, images_ui_url)
    page.locator("#image-prompt textarea").fill("a green meadow")
    set_number(page, "image-count", 3)
    choose(page, "image-size", "256x256")
    page.locator("#generate-images").click()
    images = _gallery_images(page)
    expect(images).to_have_count(3, timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#image-gallery img')].every(i => i.complete && i.naturalWidth)"
    )
    assert _natural_sizes(page) == [[256, 256]] * 3
    assert [tuple(_pixel(page, i)) for i in range(3)] == [colour_for("a green meadow", i) for i in range(3)]
    sent = image_server.state.requests[-1]
    assert sent["prompt"] == "a green meadow" and sent["n"] == 3 and sent["size"] == "256x256"


def test_a_custom_size_is_sent_and_shown(page: Page, images_ui_url, image_server) -> None:
    _open_images(page, images_ui_url)
    page.locator("#image-prompt textarea").fill("a wide banner")
    _set_size(page, "320x128")
    page.locator("#generate-images").click()
    expect(_gallery_images(page)).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#image-gallery img').naturalWidth > 0")
    assert image_server.state.requests[-1]["size"] == "320x128", image_server.state.requests[-1]
    assert _natural_sizes(page) == [[320, 128]]


@pytest.mark.parametrize(
    ("prompt", "size", "expected"),
    [
        (f"{MISBEHAVE}garbage", "256x256", "not a valid image"),
        ("a cat", "tiny", "is not WIDTHxHEIGHT"),
        ("   ", "256x256", "describe the image"),
    ],
)
def test_errors_are_shown_to_the_user(page: Page, images_ui_url, prompt, size, expected) -> None:
    _open_images(page, images_ui_url)
    page.locator("#image-prompt textarea").fill(prompt)
    _set_size(page, size)
    page.locator("#generate-images").click()
    expect(page.get_by_text(expected).first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(_gallery_images(page)).to_have_count(0)


def test_the_images_tab_is_hidden_without_an_image_server(page: Page, ui_url) -> None:
    page.goto(ui_url)
    expect(page.get_by_role("tab", name="Chat")).to_be_visible()
    expect(page.get_by_role("tab", name="Images")).to_have_count(0)
    expect(page.locator("#image-gallery")).to_have_count(0)

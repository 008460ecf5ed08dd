"""The browser UI served on loopback from this process, and headless Chromium to drive it.

Registered for every test by tests/conftest.py. The UI shares the session's loaded model;
its chats and collections live in a data folder of the session's own. Every page records
the hosts it requested: a test fails if any of them is not loopback, and it saves a
screenshot under ``test-artifacts/`` when it fails.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gradio_utils.app import launch_ui
from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.documents.library import DocumentLibrary
from h2ogpt.settings import Settings
from support import netguard
from support.paths import REPO
from support.ui_driver import USERS, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Playwright's 5 s default is too short for a server answering on a busy 2-core machine.
expect.set_options(timeout=30_000)
CHROMIUM_ARGS = [  # headless, and no background calls to Google's services
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
ARTIFACTS = REPO / "test-artifacts"


def serve_ui(settings: Settings, backend, **updates):
    """The UI on a free loopback port over ``backend``; returns (Blocks, url)."""
    ui_settings = settings.model_copy(
        update={"server_name": "127.0.0.1", "server_port": free_port(), **updates}
    )
    pipeline = Pipeline(ui_settings, backend, DocumentLibrary(ui_settings))
    return launch_ui(ui_settings, [pipeline], block=False)


@pytest.fixture(scope="session")
def ui_settings(settings: Settings, tmp_path_factory) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("ui-data"), "max_new_tokens": 24})


@pytest.fixture(scope="session")
def ui_url(ui_settings: Settings, backend) -> Iterator[str]:
    demo, url = serve_ui(ui_settings, backend)
    yield url
    demo.close()


@pytest.fixture(scope="session")
def auth_ui_url(ui_settings: Settings, backend, tmp_path_factory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("ui-auth-data")
    auth = ",".join(f"{name}:{password}" for name, password in USERS.items())
    demo, url = serve_ui(ui_settings, backend, data_dir=data_dir, auth=auth, auth_access="closed")
    yield url
    demo.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the session. Playwright's sync API leaves an asyncio loop running in the
    main thread from here on, so tests that use it live in tests/ui/, collected after the tests
    that call asyncio.run (tests/scaling)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Pages:
    """New browser pages (each its own context: cookies, session) that record every
    host they request."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.pages: list[Page] = []
        self.requested: list[str] = []

    def new(self) -> Page:
        context = self.browser.new_context(viewport={"width": 1400, "height": 1100})
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.on("request", lambda request: self.requested.append(request.url))
        self.pages.append(page)
        return page

    def outside_requests(self) -> list[str]:
        return [url for url in self.requested if not netguard.is_local(urlparse(url).hostname or "")]


@pytest.fixture
def pages(browser: Browser, request) -> Iterator[Pages]:
    made = Pages(browser)
    yield made
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for number, page in enumerate(made.pages):
            page.screenshot(path=ARTIFACTS / f"{request.node.name}-{number}.png", full_page=True)
    for page in made.pages:
        page.context.close()
    assert not made.outside_requests(), f"the page requested non-loopback hosts: {made.outside_requests()}"


@pytest.fixture
def page(pages: Pages) -> Page:
    return pages.new()


# --- voice: Chromium with a fake microphone -------------------------------------------------

SPOKEN_QUESTION = "What is two plus two?"


@pytest.fixture(scope="session")
def spoken_question(tmp_path_factory) -> Path:
    """``SPOKEN_QUESTION`` said by espeak-ng (a WAV file): what the fake microphone hears."""
    path = tmp_path_factory.mktemp("voice") / "question.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SPOKEN_QUESTION], check=True, capture_output=True)
    return path


@pytest.fixture(scope="session")
def voice_browser(browser: Browser, spoken_question: Path) -> Iterator[Browser]:
    """A second Chromium whose microphone plays ``spoken_question`` (in a loop, permission
    granted), and which may play audio without a click first."""
    voice = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={spoken_question}",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
    yield voice
    voice.close()


@pytest.fixture
def voice_page(voice_browser: Browser, request) -> Iterator[Page]:
    """A page of ``voice_browser``, checked like ``pages``: loopback requests only, and a
    screenshot under test-artifacts/ when the test fails."""
    made = Pages(voice_browser)
    page = made.new()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{request.node.name}-voice.png", full_page=True)
    page.context.close()
    assert not made.outside_requests(), f"the page requested non-loopback hosts: {made.outside_requests()}"

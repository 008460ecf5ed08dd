"""Host-side checks of a running h2oGPT container (run by ci/image_smoke.sh).

The container has no network (--network none), so ci/image_smoke.sh runs this script inside the
container's network namespace with nsenter: 127.0.0.1 here is the container's loopback, while
the Python, the openai client, Playwright and Chromium are the host's.

    python ci/image/smoke.py --screenshot .cache/image/ui.png
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def check_api(base_url: str) -> None:
    """The official openai client gets a non-empty chat completion from the API."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed", timeout=120, max_retries=0)
    models = [model.id for model in client.models.list()]
    if not models:
        raise SystemExit("API: /v1/models lists no model")
    start = time.monotonic()
    completion = client.chat.completions.create(
        model=models[0],
        messages=[{"role": "user", "content": "What is the capital of France? Answer in one sentence."}],
        max_tokens=48,
        temperature=0,
    )
    answer = (completion.choices[0].message.content or "").strip()
    if not answer:
        raise SystemExit(f"API: empty answer from {models[0]}")
    print(f"API ok: model {models[0]!r} answered in {time.monotonic() - start:.1f}s: {answer[:120]!r}")


def check_ui(url: str, screenshot: Path) -> None:
    """The browser UI renders in headless Chromium, down to its question box."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            question = page.locator("#question textarea")
            question.wait_for(state="visible", timeout=60_000)
            # let the page's load events (saved chats, collections) finish before the screenshot
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_load_state("networkidle", timeout=15_000)
            model = page.locator("#model-in-use").inner_text(timeout=10_000)
            title = page.title()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    print(f"UI ok: {url} title {title!r}, {model.strip()!r}, screenshot {screenshot}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="http://127.0.0.1:5000/v1")
    parser.add_argument("--ui", default="http://127.0.0.1:7860/")
    parser.add_argument("--screenshot", type=Path, default=Path(".cache/image/ui.png"))
    args = parser.parse_args()
    check_api(args.api)
    check_ui(args.ui, args.screenshot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

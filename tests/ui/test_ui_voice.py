"""Voice in the browser: Chromium with a fake microphone (espeak-ng saying "What is two plus
two?"), the embedded Whisper and Piper models, and a remote model over the loopback fake of
tests/support/fake_upstream.py (its answer is the question's words reversed, streamed slowly
enough to be spoken while it is still being written).

The page's ``<audio>`` element is watched from the test: each play records what the chatbot
showed at that moment, so "speech began before the answer ended" is a matter of order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import gradio as gr
import pytest
from playwright.sync_api import Page, expect

from gradio_utils.app import launch_ui
from gradio_utils.narration import Narrator
from gradio_utils.voice_view import VoiceHandlers, VoicePanel, VoiceSupport
from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.selection import create_backend
from h2ogpt.settings import Settings
from h2ogpt.speech import decode_audio, speakable, speech_services
from support.fake_upstream import FakeUpstream
from support.ui_driver import ANSWER_TIMEOUT_MS, ask, bot_messages, free_port, wait_until_saved

RECORD_S = 3.0  # seconds of the fake microphone to record (the question takes about 1.5 s)
TOKEN_DELAY_S = 0.3  # the fake model's pause between words
LONG_ANSWER = (
    "Speech starts here. The rest follows slowly. It keeps going on and on. "
    "Every sentence is spoken in turn. The end is getting near. This is the end."
)
HEARD = re.compile(r"what is .*(two|2)", re.I)


def reversed_words(text: str) -> str:
    return " ".join(text.split()[::-1])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


def serve(settings: Settings, fake: FakeUpstream, **updates):
    """The UI over the fake remote model; returns (Blocks, url, backend)."""
    ui = settings.model_copy(update={"server_name": "127.0.0.1", "server_port": free_port(), **updates})
    remote = create_backend(ui.model_copy(update={"inference_server": f"vllm_chat:{fake.url}"}))
    demo, url = launch_ui(ui, [Pipeline(ui, remote, documents=None, name="Fake upstream")], block=False)
    return demo, url, remote


@pytest.fixture(scope="module")
def voice_settings(ui_settings: Settings, tmp_path_factory) -> Settings:
    return ui_settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("ui-voice-data"), "max_new_tokens": 64}
    )


@pytest.fixture(scope="module")
def voice_url(voice_settings: Settings, fake: FakeUpstream) -> Iterator[str]:
    demo, url, remote = serve(voice_settings, fake)
    yield url
    demo.close()
    remote.close()


def watch_speech(page: Page) -> None:
    """Record every play/playing/ended of the page's player: the clip, its duration, how far
    it played and the last answer's text at that moment."""
    page.locator("#voice-player audio").wait_for(state="attached")
    page.evaluate(
        """() => {
            window.speech = [];
            const audio = document.querySelector('#voice-player audio');
            for (const type of ['play', 'playing', 'timeupdate', 'ended']) {
                audio.addEventListener(type, () => {
                    const answers = document.querySelectorAll('#chatbot-0 .message.bot');
                    const shown = answers.length ? answers[answers.length - 1].innerText.trim() : '';
                    window.speech.push({type, src: audio.src, duration: audio.duration,
                                        time: audio.currentTime, shown});
                });
            }
        }"""
    )


def speech_events(page: Page, type_: str) -> list[dict]:
    return page.evaluate("type => window.speech.filter(e => e.type === type)", type_)


def record(page: Page) -> None:
    mic = page.locator("#voice-input")
    mic.locator("button.record-button").click()
    expect(mic.locator("button.stop-button")).to_be_visible()
    time.sleep(RECORD_S)  # the fake microphone talks in real time
    mic.locator("button.stop-button").click()


def test_a_spoken_question_is_transcribed_answered_and_spoken(voice_page: Page, voice_url, fake):
    fake.reset()
    page = voice_page
    page.goto(voice_url)
    watch_speech(page)

    # record: the transcript lands in the question box, and waits there
    record(page)
    box = page.locator("#question textarea")
    expect(box).to_have_value(HEARD, timeout=60_000)
    question = box.input_value().strip()
    expect(page.locator("#chatbot-0 .message")).to_have_count(0)

    # it is answered; the answer's speaker button plays it: a clip of non-zero duration
    page.locator("#send").click()
    wait_until_saved(page, question)
    answer = bot_messages(page).last.inner_text().strip()
    assert answer == reversed_words(question)
    page.locator("#chatbot-0 .speak-answer").last.click()
    page.wait_for_function("() => window.speech.some(e => e.type === 'ended')", timeout=ANSWER_TIMEOUT_MS)
    played = [e for e in speech_events(page, "timeupdate") if e["time"] > 0]
    assert played and all(e["duration"] > 0 for e in played), page.evaluate("window.speech")
    clip = speech_events(page, "ended")[0]
    assert clip["time"] == pytest.approx(clip["duration"], abs=0.05) and clip["duration"] > 0.2
    served = page.request.get(clip["src"])
    assert decode_audio(served.body(), name="clip.wav").duration == pytest.approx(clip["duration"], abs=0.1)

    # with auto-send on, a recording is sent at once
    page.locator("#voice-auto-send input").check()
    record(page)
    expect(page.locator("#chatbot-0 .message.user")).to_have_count(2, timeout=60_000)
    expect(page.locator("#chatbot-0 .message.user").last).to_have_text(HEARD)
    expect(bot_messages(page)).to_have_count(2)


def test_auto_speak_starts_before_the_answer_ends_and_stop_speaking_stops_it(
    voice_page: Page, voice_url, fake
):
    fake.reset()
    fake.state.token_delay = TOKEN_DELAY_S
    page = voice_page
    page.goto(voice_url)
    page.locator("#voice-auto-speak input").check()
    watch_speech(page)
    question = reversed_words(LONG_ANSWER)
    ask(page, question)

    # the first sentence plays while the chatbot still shows only the start of the answer
    page.wait_for_function("() => window.speech.some(e => e.type === 'playing')", timeout=60_000)
    first = speech_events(page, "playing")[0]
    assert first["duration"] > 0
    assert first["shown"] and first["shown"] != LONG_ANSWER and LONG_ANSWER.startswith(first["shown"]), first

    # Stop speaking: the player pauses and nothing more is played, though the answer goes on
    page.locator("#voice-stop").click()
    expect(page.locator("#voice-player audio")).to_have_js_property("paused", True)
    plays = len(speech_events(page, "play"))
    assert bot_messages(page).last.inner_text().strip() != LONG_ANSWER, "answered before Stop: too fast"
    wait_until_saved(page, question)
    expect(bot_messages(page).last).to_have_text(LONG_ANSWER)
    time.sleep(1.0)  # a clip made after Stop would start playing here
    assert len(speech_events(page, "play")) == plays
    expect(page.locator("#voice-player audio")).to_have_js_property("paused", True)


def test_voice_controls_are_hidden_when_speech_is_off(page: Page, voice_settings: Settings, fake, tmp_path):
    demo, url, remote = serve(voice_settings, fake, data_dir=tmp_path, enable_stt=False, enable_tts=False)
    try:
        page.goto(url)
        expect(page.locator("#question textarea")).to_be_visible()
        for control in ("voice-input", "voice-auto-send", "voice-auto-speak", "voice-stop", "voice-player"):
            expect(page.locator(f"#{control}")).to_have_count(0)
        page.locator("#expert").click()
        expect(page.get_by_text("Repetition penalty")).to_be_visible()
        expect(page.locator("#voice-voice, #voice-speed")).to_have_count(0)
        fake.reset()
        ask(page, "no voice here")
        expect(bot_messages(page).last).to_have_text("here voice no", timeout=ANSWER_TIMEOUT_MS)
        expect(page.locator(".speak-answer")).to_have_count(0)
    finally:
        demo.close()
        remote.close()


# --- the narrator, without a browser -----------------------------------------------------------


def test_narrator_speaks_finished_sentences_as_the_text_grows(settings: Settings):
    services = speech_services(settings)
    clips: list[bytes] = []

    def save(data: bytes) -> str:
        clips.append(data)
        return f"clip-{len(clips)}"

    narrator = Narrator(services, save)
    narrator.feed("Hello there. This is")
    narrator.feed("Hello there. This is the [1] second **sentence**. And")
    deadline = time.monotonic() + 60
    while len(narrator.clips) < 2 and time.monotonic() < deadline:
        narrator.wait(0.1)
    time.sleep(0.5)
    assert not narrator.done() and narrator.clips == ["clip-1", "clip-2"]  # the third is unfinished
    narrator.feed("Hello there. This is the [1] second **sentence**. And the last", final=True)
    narrator.wait(30)
    assert narrator.done() and narrator.error is None and narrator.clips == ["clip-1", "clip-2", "clip-3"]
    assert all(decode_audio(clip, name="clip.wav").duration > 0.3 for clip in clips)
    assert speakable("See [2] the **docs** <b>now</b>.") == "See the docs now ."

    failing = Narrator(services, save, voice="no-such-voice")
    failing.feed("Anything at all.", final=True)
    failing.wait(30)
    assert failing.done() and "no-such-voice" in (failing.error or "") and not failing.clips


def test_a_recording_that_cannot_be_transcribed_is_an_error_on_the_page(settings: Settings, tmp_path):
    with gr.Blocks():
        handlers = VoiceHandlers(VoicePanel(VoiceSupport.for_settings(settings), settings))
    broken = tmp_path / "recording.wav"
    broken.write_bytes(b"RIFF" + bytes(40))
    with pytest.raises(gr.Error, match=r"Could not transcribe the recording: .*not a readable audio file"):
        handlers.transcribe(str(broken), "")
    with pytest.raises(gr.Error, match="Nothing was recorded"):
        handlers.transcribe(None, "typed")

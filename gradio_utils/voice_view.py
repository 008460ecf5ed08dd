"""Voice in the Chat tab: the microphone (its transcript goes to the question box, or is sent
at once with "Auto-send"), a speaker button on every answer, "Auto-speak answers" (the first
sentences are spoken while the answer still streams), Stop speaking, and the voice and speed
in the Expert panel.

The server speaks a text sentence by sentence (``narration.Narrator``) and hands the page
the clips made so far through a hidden file list; a small script in the page plays them in
order in one ``<audio>`` element. Gradio's own streaming audio output would need the ffmpeg
program, so it is not used. Without speech (``--enable_stt/--enable_tts=False`` or the models
missing) the controls are simply not shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import processing_utils

from gradio_utils.narration import Narrations, Narrator
from h2ogpt.settings import Settings
from h2ogpt.speech import AudioError, SpeechServices, SpeechUnavailable, speakable, speech_services

log = logging.getLogger(__name__)

MIN_UI_SPEED, MAX_UI_SPEED = 0.5, 2.0
POLL_S = 0.1  # how often a finished answer checks for clips still being spoken

# The page's player: plays the clips of the current narration in order; a new narration (a
# list whose first clip differs) replaces the old one. It also puts a speaker button under
# every answer, which sends the answer's text to the hidden #speak-answer-button.
VOICE_JS = r"""
() => {
  if (window.h2ogptVoice) return [];
  const voice = {
    queue: [], current: [], stopped: null, playing: false, pending: '',
    icon: '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" '
      + 'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M11 5 6 9H2v6h4l5 4z"/>'
      + '<path d="M15.5 8.5a5 5 0 0 1 0 7"/><path d="M19 5a10 10 0 0 1 0 14"/></svg>',
    audio() {
      const audio = document.querySelector('#voice-player audio');
      if (audio && !audio.dataset.wired) {
        audio.dataset.wired = '1';
        const next = () => { voice.playing = false; voice.next(); };
        audio.addEventListener('ended', next);
        audio.addEventListener('error', next);
      }
      return audio;
    },
    play(files) {
      const urls = (files || []).map((f) => f && (f.url || f.path)).filter(Boolean);
      if (!urls.length || urls[0] === voice.stopped) return [];
      if (urls[0] !== voice.current[0]) voice.reset();
      for (const url of urls.slice(voice.current.length)) { voice.current.push(url); voice.queue.push(url); }
      voice.next();
      return [];
    },
    next() {
      const audio = voice.audio();
      if (!audio || voice.playing || !voice.queue.length) return;
      voice.playing = true;
      audio.src = voice.queue.shift();
      audio.play().catch((err) => { console.warn('h2oGPT: cannot play speech:', err); voice.playing = false; });
    },
    reset() {
      voice.queue = []; voice.current = []; voice.playing = false;
      const audio = voice.audio();
      if (audio) { audio.pause(); audio.removeAttribute('src'); audio.load(); }
    },
    stop() { voice.stopped = voice.current[0] || null; voice.reset(); return []; },
    speak(text) {
      voice.pending = text;
      document.getElementById('speak-answer-button')?.click();
    },
    answerText(message) {
      const copy = message.cloneNode(true);
      copy.querySelectorAll('.sources, button, .speak-answer, .thought, details').forEach((n) => n.remove());
      return copy.innerText.trim();
    },
    decorate() {
      document.querySelectorAll('[id^="chatbot-"] .message.bot').forEach((message) => {
        const row = message.closest('.message-row') || message.parentElement;
        if (!row || row.querySelector('.speak-answer')) return;
        const button = document.createElement('button');
        button.className = 'speak-answer';
        button.type = 'button';
        button.title = 'Speak this answer';
        button.setAttribute('aria-label', 'Speak this answer');
        button.innerHTML = voice.icon;
        button.addEventListener('click', (event) => {
          event.preventDefault(); event.stopPropagation();
          voice.speak(voice.answerText(message));
        });
        row.appendChild(button);
      });
    },
  };
  window.h2ogptVoice = voice;
  if (document.getElementById('speak-answer-button')) {
    new MutationObserver(() => voice.decorate()).observe(document.body, {childList: true, subtree: true});
    voice.decorate();
  }
  return [];
}
"""
VOICE_CSS = """
.speak-answer { border: none; background: none; cursor: pointer; color: var(--body-text-color-subdued); padding: 0 0.3em; align-self: flex-start; }
.speak-answer:hover { color: var(--body-text-color); }
#voice-player audio { width: 100%; height: 2.2em; }
"""
SEND_IF_AUTO_JS = "(auto) => { if (auto) document.getElementById('send')?.click(); return []; }"


@dataclass(frozen=True)
class VoiceSupport:
    """What speech this server offers the page."""

    services: SpeechServices
    stt: bool
    tts: bool
    voices: list[str] = field(default_factory=list)

    @classmethod
    def for_settings(cls, settings: Settings) -> VoiceSupport:
        """Asks the speech core what is installed (the voice model loads, to list its voices);
        anything missing switches that side off, with a line in the log."""
        services = speech_services(settings)
        stt, tts = services.stt_enabled, services.tts_enabled
        for on, reason in ((stt, services.stt_unavailable_reason), (tts, services.tts_unavailable_reason)):
            if not on and (why := reason()):
                log.info("Browser UI without it: %s", why)
        voices: list[str] = []
        if tts:
            try:
                voices = services.voices()
            except SpeechUnavailable as exc:
                log.warning("Browser UI without speech output: %s", exc)
                tts = False
        return cls(services, stt, tts, voices)


class VoicePanel:
    """The voice components of the Chat tab (created hidden where speech is off)."""

    def __init__(self, support: VoiceSupport, settings: Settings) -> None:
        self.support = support
        self.settings = settings
        with gr.Row(visible=support.stt or support.tts, elem_id="voice-row", equal_height=True):
            self.mic = gr.Audio(
                sources=["microphone"],
                type="filepath",
                label="Speak a question",
                elem_id="voice-input",
                visible=support.stt,
                scale=3,
                buttons=[],
            )
            with gr.Column(scale=2, min_width=200):
                self.auto_send = gr.Checkbox(
                    False,
                    label="Auto-send",
                    info="Send the question as soon as it is transcribed.",
                    elem_id="voice-auto-send",
                    visible=support.stt,
                )
                self.auto_speak = gr.Checkbox(
                    False,
                    label="Auto-speak answers",
                    info="Speak each answer as it streams.",
                    elem_id="voice-auto-speak",
                    visible=support.tts,
                )
            with gr.Column(scale=3, min_width=240, visible=support.tts):
                self.player = gr.HTML('<audio controls preload="auto"></audio>', elem_id="voice-player")
                self.stop = gr.Button("Stop speaking", size="sm", elem_id="voice-stop")
        # the bridge between the page's script and the server (in the page, never shown)
        bridge = "hidden" if support.tts else False
        self.clips = gr.File(file_count="multiple", visible=bridge, elem_id="voice-clips", interactive=False)
        self.speak_text = gr.Textbox(visible=bridge, elem_id="speak-answer-text")
        self.speak_button = gr.Button("Speak", visible=bridge, elem_id="speak-answer-button")
        self.voice: gr.Dropdown | None = None
        self.speed: gr.Slider | None = None

    def expert(self) -> None:
        """The voice and speed (placed in the Expert panel)."""
        tts = self.support.tts
        with gr.Row(visible=tts):
            voices = self.support.voices
            self.voice = gr.Dropdown(
                voices, value=voices[0] if voices else None, label="Voice", elem_id="voice-voice", visible=tts
            )
            self.speed = gr.Slider(
                MIN_UI_SPEED,
                MAX_UI_SPEED,
                value=min(max(self.settings.tts_speed, MIN_UI_SPEED), MAX_UI_SPEED),
                step=0.05,
                label="Speaking speed",
                elem_id="voice-speed",
                visible=tts,
            )

    def answer_inputs(self) -> set:
        """What an answer needs from the voice controls (to speak it as it streams)."""
        return {self.auto_speak, self.voice, self.speed} if self.support.tts else set()

    def answer_outputs(self) -> list:
        return [self.clips] if self.support.tts else []


class VoiceHandlers:
    """Transcribe the microphone, speak answers, stop speaking."""

    def __init__(self, panel: VoicePanel) -> None:
        self.panel = panel
        self.services = panel.support.services
        self.narrations = Narrations()

    # --- speech to text ---------------------------------------------------------------------
    def transcribe(self, recording: str | None, question: str):
        """The recording's words into the question box (after what is typed there already);
        a failure is an error on the page, and auto-send does not happen."""
        if not recording:
            raise gr.Error("Nothing was recorded: allow the microphone and record again.")
        try:
            transcript = self.services.transcribe(Path(recording), name="recording")
        except (AudioError, SpeechUnavailable, ValueError) as exc:
            log.warning("transcription failed: %s", exc)
            raise gr.Error(f"Could not transcribe the recording: {exc}") from None
        text = transcript.text.strip()
        if not text:
            raise gr.Error("No speech was heard in the recording; speak closer to the microphone.")
        typed = (question or "").strip()
        return (f"{typed} {text}" if typed else text), None

    # --- text to speech ---------------------------------------------------------------------
    def _save_clip(self, data: bytes) -> str:
        return processing_utils.save_bytes_to_cache(
            data, "speech.wav", cache_dir=self.panel.clips.GRADIO_CACHE
        )

    def _narrator(self, request: gr.Request | None, voice: str | None, speed: float | None) -> Narrator:
        narrator = Narrator(self.services, self._save_clip, voice=voice or None, speed=speed)
        return self.narrations.start(_session(request), narrator)

    def speak(self, text: str, voice: str | None, speed: float | None, request: gr.Request):
        """Speak one answer (its speaker button): yields the clips made so far."""
        text = speakable(text or "")
        if not text:
            gr.Warning("This answer has no text to speak.")
            yield gr.skip()
            return
        narrator = self._narrator(request, voice, speed)
        narrator.feed(text, final=True)
        try:
            yield from _clips_until_done(narrator)
        except GeneratorExit:  # the page went away: speak no more
            narrator.cancel()
            raise

    def stop(self, request: gr.Request) -> None:
        self.narrations.stop(_session(request))

    def speaking(self, answer: Callable[..., Iterator[tuple]], conversations: gr.State, outputs: int):
        """``answer`` (a chat handler yielding its ``outputs`` values) that also speaks the first
        model's new answer as it streams, when auto-speak is on: each yield gets the clips so
        far as one more value; after the answer, the remaining clips come with every other
        output left as it is."""
        if not self.panel.support.tts:
            return answer
        panel = self.panel

        def answer_and_speak(data: dict, request: gr.Request):
            before = {id(m) for m in (data[conversations] or [[]])[0]}
            narrator: Narrator | None = None
            last: dict | None = None
            made = 0
            try:
                for values in answer(data, request):
                    message = _new_answer(values[1], before)
                    if message is not None and data[panel.auto_speak] and not message.get("error"):
                        if narrator is None:
                            narrator = self._narrator(request, data[panel.voice], data[panel.speed])
                        narrator.feed(message.get("content", ""))
                        last = message
                    clips = _new_clips(narrator, made)
                    made = len(clips) if clips is not None else made
                    yield (*values, gr.skip() if clips is None else clips)
                if narrator is None:
                    return
                if last is not None and not last.get("error"):
                    narrator.feed(last.get("content", ""), final=True)
                else:
                    narrator.cancel()
                for clips in _clips_until_done(narrator, made):
                    yield (*[gr.skip()] * outputs, clips)
            except GeneratorExit:  # the page went away: speak no more
                if narrator is not None:
                    narrator.cancel()
                raise

        return answer_and_speak


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "default"


def _new_answer(conversations: Any, before: set[int]) -> dict | None:
    """The first model's answer being written now (None before it starts)."""
    if not conversations or not conversations[0]:
        return None
    message = conversations[0][-1]
    if message.get("role") != "assistant" or id(message) in before:
        return None
    return message


def _new_clips(narrator: Narrator | None, made: int) -> list[str] | None:
    """All the narration's clips when there are more than ``made``, else None."""
    if narrator is None or narrator.cancelled or len(narrator.clips) <= made:
        return None
    return list(narrator.clips)


def _clips_until_done(narrator: Narrator, made: int = 0) -> Iterator[Any]:
    """The clips output each time the list grows, until the narrator is done (its failure is
    shown on the page)."""
    while True:
        finished = narrator.done()
        clips = _new_clips(narrator, made)
        if clips is not None:
            made = len(clips)
            yield clips
        if finished:
            if narrator.error:
                gr.Warning(f"Could not speak the answer: {narrator.error}")
            yield gr.skip()
            return
        narrator.wait(POLL_S)


def wire_voice(demo: gr.Blocks, panel: VoicePanel, handlers: VoiceHandlers, question: gr.Textbox) -> None:
    """The microphone, the speaker buttons and Stop speaking, and the page's player script."""
    if panel.support.tts or panel.support.stt:
        demo.load(None, None, None, js=VOICE_JS)
    if panel.support.stt:
        panel.mic.stop_recording(
            handlers.transcribe, [panel.mic, question], [question, panel.mic], show_progress="minimal"
        ).success(None, [panel.auto_send], None, js=SEND_IF_AUTO_JS)
    if panel.support.tts:
        panel.clips.change(None, [panel.clips], None, js="(files) => window.h2ogptVoice?.play(files) || []")
        panel.speak_button.click(
            handlers.speak,
            [panel.speak_text, panel.voice, panel.speed],
            [panel.clips],
            js="(text, voice, speed) => [window.h2ogptVoice?.pending || '', voice, speed]",
            concurrency_limit=None,
            show_progress="hidden",
        )
        panel.stop.click(handlers.stop, None, None, js="() => window.h2ogptVoice?.stop() || []", queue=False)

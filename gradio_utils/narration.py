"""Speaking a text while it is still being written: each finished sentence is synthesized in
a background thread and saved as a short WAV clip, which the page plays in order.

``Narrator.feed`` takes the text so far (and, at the end, the final text); ``clips`` grows as
sentences are spoken. The browser only needs the clip files, so nothing here knows Gradio.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable

from h2ogpt.speech import SentenceFeed, SpeechServices, encode_audio

log = logging.getLogger(__name__)

MAX_SESSIONS = 10_000  # browser sessions whose current narration is kept (the oldest are dropped)
_END = object()


class Narrator:
    """Speaks one answer, sentence by sentence, as its text arrives.

    ``save_clip`` stores a WAV file's bytes and returns its path. Failures of synthesis end
    the narration and are kept in ``error`` for the page to show.
    """

    def __init__(
        self,
        services: SpeechServices,
        save_clip: Callable[[bytes], str],
        *,
        voice: str | None = None,
        speed: float | None = None,
    ) -> None:
        self.services = services
        self.save_clip = save_clip
        self.voice, self.speed = voice, speed
        self.clips: list[str] = []
        self.error: str | None = None
        self._feed = SentenceFeed()
        self._ended = False
        self._sentences: queue.Queue = queue.Queue()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._speak, name="narrator", daemon=True)
        self._thread.start()

    def feed(self, text: str, *, final: bool = False) -> None:
        """The text so far: its finished sentences are queued for speaking (``final``: all of
        it, and the narration ends after it)."""
        if self._ended:
            return
        for sentence in self._feed.ready(text, final=final):
            self._sentences.put(sentence)
        if final:
            self._ended = True
            self._sentences.put(_END)

    def cancel(self) -> None:
        """Stop speaking: queued sentences are dropped, no further clip is made."""
        self._cancelled.set()
        self._ended = True
        self._sentences.put(_END)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _speak(self) -> None:
        while True:
            sentence = self._sentences.get()
            if sentence is _END or self._cancelled.is_set():
                return
            try:
                samples = self.services.synthesize(sentence, voice=self.voice, speed=self.speed)
                clip = self.save_clip(encode_audio(samples, self.services.tts_sample_rate, "wav"))
            except Exception as exc:  # shown to the user: a narration never fails silently
                log.warning(
                    "speaking failed: %s", exc, exc_info=not isinstance(exc, ValueError | RuntimeError)
                )
                self.error = str(exc) or type(exc).__name__
                return
            if not self._cancelled.is_set():
                self.clips.append(clip)


class Narrations:
    """The current narration of each browser session: a new one, or Stop speaking, cancels it."""

    def __init__(self) -> None:
        self._current: OrderedDict[str, Narrator] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, session: str, narrator: Narrator) -> Narrator:
        with self._lock:
            previous = self._current.pop(session, None)
            if len(self._current) >= MAX_SESSIONS:
                self._current.popitem(last=False)
            self._current[session] = narrator
        if previous is not None:
            previous.cancel()
        return narrator

    def stop(self, session: str) -> None:
        with self._lock:
            narrator = self._current.pop(session, None)
        if narrator is not None:
            narrator.cancel()

"""``--speak``: the terminal chat's answers spoken through the default audio output.

Playback needs no audio library: the first player found on ``PATH`` whose output is usable
(``paplay``/``pw-play`` with a reachable sound server, ``aplay`` with a sound card, ``afplay``
on macOS, ``ffplay``) plays each sentence's WAV clip. Sentences are synthesized while the answer
still streams, and played one after another, so the printed text is never held back.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

NO_OUTPUT = (
    "[--speak: no audio output found (no sound card or sound server for paplay, pw-play, aplay, "
    "afplay or ffplay): answers are printed only]"
)
_PROBE_SECONDS = 5


@dataclass(frozen=True)
class Player:
    """A command that plays one WAV file on the default output: ``command + [file]``."""

    name: str
    command: tuple[str, ...]

    def play(self, wav: bytes) -> None:
        with tempfile.NamedTemporaryFile(suffix=".wav", prefix="h2ogpt-speak-") as clip:
            clip.write(wav)
            clip.flush()
            result = subprocess.run(
                [*self.command, clip.name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
            )
        if result.returncode != 0:
            log.warning(
                "%s failed (exit %d): %s", self.name, result.returncode, result.stderr.decode()[-300:]
            )


def _runs(*command: str) -> str | None:
    """The output of a short probe command, or None when it fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_PROBE_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _runtime_dir() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")


def _pulse_reachable() -> bool:
    if os.environ.get("PULSE_SERVER"):
        return True
    if shutil.which("pactl"):
        return _runs("pactl", "info") is not None
    return (_runtime_dir() / "pulse" / "native").exists()


def _alsa_card() -> bool:
    listing = _runs("aplay", "-l")
    return listing is not None and re.search(r"^card \d+:", listing, re.MULTILINE) is not None


def _any_card() -> bool:
    cards = Path("/proc/asound/cards")
    return (
        cards.exists()
        and re.search(r"^\s*\d+ \[", cards.read_text(errors="replace"), re.MULTILINE) is not None
    )


def find_player() -> Player | None:
    """The first player on ``PATH`` with a usable audio output, or None."""
    if shutil.which("paplay") and _pulse_reachable():
        return Player("paplay", ("paplay",))
    if shutil.which("pw-play") and (_runtime_dir() / "pipewire-0").exists():
        return Player("pw-play", ("pw-play",))
    if shutil.which("aplay") and _alsa_card():
        return Player("aplay", ("aplay", "-q"))
    if sys.platform == "darwin" and shutil.which("afplay"):
        return Player("afplay", ("afplay",))
    if shutil.which("ffplay") and (sys.platform == "darwin" or _pulse_reachable() or _any_card()):
        return Player("ffplay", ("ffplay", "-nodisp", "-autoexit", "-loglevel", "error"))
    return None


class Speaker:
    """Speaks an answer sentence by sentence as its text streams in (:meth:`feed`).

    One thread synthesizes complete sentences, another plays the clips in order, so the next
    sentence is synthesized while one plays. :meth:`finish` speaks the rest and waits;
    :meth:`stop` drops what is not yet spoken.
    """

    def __init__(self, services: Any, player: Player, speed: float = 1.0) -> None:
        from h2ogpt.speech import SentenceFeed

        self.services = services
        self.player = player
        self.speed = speed
        self._text = ""
        self._feed = SentenceFeed()  # which sentences of the current answer are queued
        self._answer = 0  # bumped by stop(): work queued for an earlier answer is dropped
        self._sentences: queue.Queue[tuple[int, str] | None] = queue.Queue()
        self._clips: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._synthesize, name="speak-synthesize", daemon=True),
            threading.Thread(target=self._play, name="speak-play", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def feed(self, delta: str) -> None:
        """More of the answer: every sentence now complete is queued to be spoken."""
        self._text += delta
        self._queue(final=False)

    def finish(self, text: str | None = None) -> None:
        """The answer is complete (``text``: its final form): speak the rest and wait until it
        has been spoken (Ctrl-C stops speaking)."""
        if text is not None:
            if not text.startswith(self._text):  # replaced, e.g. a scaled answer chose another
                self._feed.restart()
            self._text = text
        self._queue(final=True)
        try:
            self._sentences.join()
            self._clips.join()
        except KeyboardInterrupt:
            self.stop()
        self._text = ""
        self._feed.restart()

    def stop(self) -> None:
        """Stop speaking this answer (a clip already playing ends its sentence)."""
        self._answer += 1
        self._text = ""
        self._feed.restart()

    def close(self) -> None:
        """End the worker threads once what is queued has been spoken."""
        self._sentences.put(None)
        for thread in self._threads:
            thread.join(timeout=60)

    def _queue(self, final: bool) -> None:
        for sentence in self._feed.ready(self._text, final=final):
            self._sentences.put((self._answer, sentence))

    def _synthesize(self) -> None:
        from h2ogpt.speech import encode_audio

        while (item := self._sentences.get()) is not None:
            answer, sentence = item
            try:
                if answer == self._answer:
                    samples = self.services.synthesize(sentence, speed=self.speed)
                    self._clips.put((answer, encode_audio(samples, self.services.tts_sample_rate, "wav")))
            except Exception:  # speaking is best effort: the answer is already printed
                log.warning("could not speak %r", sentence[:60], exc_info=True)
            finally:
                self._sentences.task_done()
        self._clips.put(None)
        self._sentences.task_done()

    def _play(self) -> None:
        while (item := self._clips.get()) is not None:
            answer, clip = item
            try:
                if answer == self._answer:
                    self.player.play(clip)
            except OSError:
                log.warning("%s could not play a clip", self.player.name, exc_info=True)
            finally:
                self._clips.task_done()
        self._clips.task_done()


def open_speaker(settings: Any, err: TextIO) -> Speaker | None:
    """A speaker for ``--speak``, or None after one line on ``err`` saying why answers stay silent."""
    from h2ogpt.speech import speech_services

    player = find_player()
    if player is None:
        err.write(NO_OUTPUT + "\n")
        return None
    services = speech_services(settings)
    reason = services.tts_unavailable_reason()  # switched off, or the voice is not installed
    if reason:
        err.write(f"[--speak: {reason}: answers are printed only]\n")
        return None
    log.info("speaking answers through %s", player.name)
    return Speaker(services, player, getattr(settings, "tts_speed", 1.0))

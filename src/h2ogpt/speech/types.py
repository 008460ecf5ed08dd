"""What a transcription returns: the text, and its segments and words with their times."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    """One word and its time span, in seconds from the start of the audio."""

    start: float
    end: float
    word: str


@dataclass(frozen=True)
class Segment:
    """One stretch of speech (a phrase or a sentence) with its time span in seconds.

    ``words`` is filled when word timestamps were asked for. The fields after it are the
    decoder's own numbers (OpenAI's ``verbose_json`` carries them); engines that lack them
    leave the defaults.
    """

    id: int
    start: float
    end: float
    text: str
    words: list[Word] | None = None
    seek: int = 0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class Transcript:
    """A whole transcription: ``language`` is an ISO-639-1 code, ``duration`` the audio's seconds."""

    text: str
    language: str
    duration: float
    segments: list[Segment]

    @property
    def words(self) -> list[Word]:
        """Every word of every segment (empty unless word timestamps were asked for)."""
        return [word for segment in self.segments for word in segment.words or ()]


def join_segments(segments: list[Segment]) -> str:
    """The text of consecutive segments as one text (Whisper's segments start with a space)."""
    return "".join(segment.text for segment in segments).strip()

"""Speech: speech-to-text and text-to-speech for every face (the API, the browser UI, the
terminal chat, audio documents). Engines are plug-ins (``register_speech_to_text``,
``register_text_to_speech``); the built-ins are faster-whisper and Piper with embedded models.
"""

from h2ogpt.speech.audio import AUDIO_SUFFIXES, OUTPUT_FORMATS, Audio, AudioError, decode_audio, encode_audio
from h2ogpt.speech.sentences import SentenceFeed, speakable, split_sentences
from h2ogpt.speech.services import SpeechServices, SpeechUnavailable, speech_services
from h2ogpt.speech.types import Segment, Transcript, Word

__all__ = [
    "AUDIO_SUFFIXES",
    "OUTPUT_FORMATS",
    "Audio",
    "AudioError",
    "Segment",
    "SentenceFeed",
    "SpeechServices",
    "SpeechUnavailable",
    "Transcript",
    "Word",
    "decode_audio",
    "encode_audio",
    "speakable",
    "speech_services",
    "split_sentences",
]

"""Test speech: ordinary English sentences spoken by Debian's ``espeak-ng``, and word error rate.

``espeak-ng`` is installed by ``make test`` (the ``test-tools`` target); these helpers fail
with that advice when it is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

# Twenty ordinary sentences, written for these tests.
SENTENCES = (
    "The train to the city leaves at seven in the morning.",
    "Please remember to water the plants while I am away.",
    "My brother bought a new bicycle last summer.",
    "The library closes early on Sunday afternoons.",
    "We had fresh bread and hot soup for dinner.",
    "She opened the window because the room was too warm.",
    "The children played football in the park after school.",
    "It started to rain just as we reached the station.",
    "Could you send me the report before the meeting?",
    "The old house at the end of the street has a red door.",
    "He drinks a cup of coffee every morning before work.",
    "Our neighbors are planning a party for next weekend.",
    "The museum has a large collection of ancient coins.",
    "I forgot my umbrella at the office yesterday.",
    "The doctor told him to rest for a few days.",
    "They walked along the river until the sun went down.",
    "The store on the corner sells fruit and vegetables.",
    "Turn left at the bridge and follow the road to the farm.",
    "The teacher asked the students to read the first chapter.",
    "We watched a funny movie and laughed all evening.",
)

ESPEAK = "espeak-ng"
ESPEAK_VOICE = "en-us"
ESPEAK_WORDS_PER_MINUTE = 150
ESPEAK_WORD_GAP = 6  # x 10 ms between words: Whisper tiny.en hears espeak's run-on words far better


def espeak_path() -> str:
    path = shutil.which(ESPEAK)
    if path is None:
        raise RuntimeError(
            "the speech tests need espeak-ng: run `make test-tools` (or apt-get install espeak-ng)"
        )
    return path


def espeak_wav(text: str, path: Path) -> Path:
    """``text`` spoken by espeak-ng into the WAV file ``path`` (22050 Hz mono)."""
    subprocess.run(
        [
            espeak_path(),
            "-v",
            ESPEAK_VOICE,
            "-s",
            str(ESPEAK_WORDS_PER_MINUTE),
            "-g",
            str(ESPEAK_WORD_GAP),
            "-w",
            str(path),
            text,
        ],
        check=True,
        capture_output=True,
    )
    return path


def espeak_batch(sentences: tuple[str, ...] | list[str], folder: Path) -> list[Path]:
    """One WAV file per sentence in ``folder`` (made once: existing files are kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, sentence in enumerate(sentences):
        path = folder / f"sentence-{index:02d}.wav"
        if not path.is_file() or path.stat().st_size == 0:
            espeak_wav(sentence, path)
        paths.append(path)
    return paths


_NUMBERS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; small numbers as digits (7 == seven)."""
    found = re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))
    return [_NUMBERS.get(w, w) for w in (w.strip("'") for w in found) if w]


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Word errors (substitutions, insertions, deletions) over all reference words."""
    errors = sum(edit_distance(words(r), words(h)) for r, h in zip(references, hypotheses, strict=True))
    total = sum(len(words(r)) for r in references)
    return errors / max(total, 1)


# --- fixtures (registered for every test by tests/conftest.py) ------------------------------


@pytest.fixture(scope="session")
def spoken_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def spoken_sentences(spoken_folder: Path) -> list[Path]:
    """The twenty SENTENCES spoken by espeak-ng, one WAV file each (made once per session)."""
    return espeak_batch(SENTENCES, spoken_folder / "sentences")


@pytest.fixture(scope="session")
def spoken_passage(spoken_folder: Path) -> Path:
    """The first five SENTENCES spoken as one WAV file (about 15 s)."""
    return espeak_wav(" ".join(SENTENCES[:5]), spoken_folder / "passage.wav")

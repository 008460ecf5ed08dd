"""``python generate.py --cli=True --speak=True``: answers printed and spoken through the first
audio player found on PATH, or printed with one line saying there is no audio output.

The player here is a real program put first (and alone) on PATH: an ``aplay`` that lists a
sound card (or none) for ``aplay -l`` and keeps each clip it is asked to play.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from h2ogpt.cli.speaker import NO_OUTPUT, Player, Speaker
from h2ogpt.settings import Settings
from h2ogpt.speech import decode_audio, speech_services
from support.processes import run_generate

FAKE_APLAY = """#!{python}
import os, shutil, sys

if sys.argv[1:] == ["-l"]:
    if os.environ.get("FAKE_APLAY_CARD") != "1":
        sys.exit("aplay: device_list:274: no soundcards found...")
    print("**** List of PLAYBACK Hardware Devices ****")
    print("card 0: Fake [Fake Card], device 0: Fake PCM [Fake PCM]")
    sys.exit(0)
clips = os.environ["FAKE_APLAY_OUT"]
shutil.copy(sys.argv[-1], os.path.join(clips, "clip-%03d.wav" % len(os.listdir(clips))))
"""
QUESTION = ("--cli=True", "--cli_loop=False", "--speak=True", "--max_new_tokens=24")


@pytest.fixture
def player_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH holds only the fake ``aplay``, and the folder of played clips."""
    bin_dir, clips = tmp_path / "bin", tmp_path / "clips"
    bin_dir.mkdir()
    clips.mkdir()
    aplay = bin_dir / "aplay"
    aplay.write_text(FAKE_APLAY.format(python=sys.executable), encoding="utf-8")
    aplay.chmod(0o755)
    return {"PATH": str(bin_dir), "FAKE_APLAY_OUT": str(clips)}, clips


def test_without_a_sound_card_the_answer_is_printed_and_one_line_says_so(
    data_dir, converted_model_dir, player_path
):
    env, clips = player_path
    result = run_generate(*QUESTION, "--prompt=What is the capital of Japan?", data_dir=data_dir, env=env)
    assert result.returncode == 0, result.stderr
    assert "Tokyo" in result.stdout
    assert result.stderr.count(NO_OUTPUT) == 1 and "Traceback" not in result.stderr
    assert not list(clips.iterdir())


def test_answer_is_spoken_through_the_player(data_dir, converted_model_dir, player_path):
    env, clips = player_path
    env["FAKE_APLAY_CARD"] = "1"
    result = run_generate(*QUESTION, "--prompt=What is the capital of Japan?", data_dir=data_dir, env=env)
    assert result.returncode == 0, result.stderr
    assert NO_OUTPUT not in result.stderr and "Tokyo" in result.stdout
    played = sorted(clips.iterdir())
    assert played, result.stderr
    audio = [decode_audio(clip) for clip in played]
    assert all(a.duration > 0.3 for a in audio)
    services = speech_services(Settings())
    heard = " ".join(services.transcribe(a).text for a in audio).lower()
    answer = set(re.findall(r"[a-z]{4,}", result.stdout.lower()))
    assert "tokyo" in heard, heard
    assert len(answer & set(re.findall(r"[a-z]{4,}", heard))) >= len(answer) / 2, (heard, result.stdout)


def test_sentences_are_spoken_while_the_answer_still_streams(player_path, monkeypatch):
    env, clips = player_path
    monkeypatch.setenv("FAKE_APLAY_OUT", env["FAKE_APLAY_OUT"])
    speaker = Speaker(speech_services(Settings()), Player("aplay", (str(Path(env["PATH"]) / "aplay"),)))
    for piece in ["The sky ", "is blue [1]. ", "Grass is"]:
        speaker.feed(piece)
    deadline = time.monotonic() + 60
    while not list(clips.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [c.name for c in clips.iterdir()] == ["clip-000.wav"]  # before the answer is complete
    speaker.finish("The sky is blue [1]. Grass is green.")
    speaker.close()
    played = sorted(clips.iterdir())
    services = speech_services(Settings())
    heard = [services.transcribe(decode_audio(c)).text.lower() for c in played]
    assert len(heard) == 2 and "sky" in heard[0] and "green" in heard[1], heard
    assert not re.search(r"\b(one|1)\b", heard[0]), heard  # citation markers are not read out

"""The speech tests share the process-wide speech services (models load once per session)."""

from __future__ import annotations

import pytest

from h2ogpt.settings import Settings
from h2ogpt.speech import SpeechServices, speech_services


@pytest.fixture(scope="session")
def speech(settings: Settings) -> SpeechServices:
    return speech_services(settings)

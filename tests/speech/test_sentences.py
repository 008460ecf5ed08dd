"""Sentence splitting for spoken answers."""

from __future__ import annotations

import re

import pytest

from h2ogpt.speech import SentenceFeed, split_sentences

CASES = [
    ("Hello there. How are you? I am fine!", ["Hello there.", "How are you?", "I am fine!"]),
    (
        "Dr. Smith met Mrs. Jones at 3.30 p.m. yesterday.",
        ["Dr. Smith met Mrs. Jones at 3.30 p.m. yesterday."],
    ),
    ("Pi is 3.14159. The U.S. economy grew.", ["Pi is 3.14159.", "The U.S. economy grew."]),
    ("Use tools, e.g. a hammer. Then stop.", ["Use tools, e.g. a hammer.", "Then stop."]),
    ('She said "Go home." Then she left.', ['She said "Go home."', "Then she left."]),
    ("Wait... really?! Yes.", ["Wait... really?!", "Yes."]),
    ("Steps:\n1. Open it.\n2. Close it.", ["Steps:", "1. Open it.", "2. Close it."]),
    ("First paragraph\n\nSecond paragraph", ["First paragraph", "Second paragraph"]),
    ("J. R. R. Tolkien wrote books.", ["J. R. R. Tolkien wrote books."]),
    ("no ending punctuation", ["no ending punctuation"]),
    ("  ", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    "text",
    [case[0] for case in CASES]
    + ["Version 2.0 is out!Nothing else.  Trailing   spaces .", "a. b. c. d.", "?!?", "Mr.", "3. 4. 5."],
)
def test_nothing_is_dropped(text):
    assert re.sub(r"\s", "", "".join(split_sentences(text))) == re.sub(r"\s", "", text)


def test_a_sentence_feed_hands_out_each_finished_sentence_once():
    feed = SentenceFeed()
    assert feed.ready("Hello there [1]. How are") == ["Hello there."]  # the growing one waits
    assert feed.ready("Hello there [1]. How are you? I am") == ["How are you?"]
    assert feed.ready("Hello there [1]. How are you? I am **fine**", final=True) == ["I am fine"]
    feed.restart()
    assert feed.ready("Another answer. Done", final=True) == ["Another answer.", "Done"]

"""The JSON-object prefix automaton behind JSON mode."""

from __future__ import annotations

import json

import pytest

from h2ogpt.backends.json_mode import JsonConstraint, JsonState, closing_text, feed

VALID = [
    "{}",
    '{"a": 1}',
    '{"a": -0.5e+10, "b": [1, 2.25, -3, 0], "c": {"d": null, "e": true, "f": false}}',
    '{"s": "quote \\" backslash \\\\ unicode \\u00e9 newline \\n", "empty": ""}',
    '{ "nested" : [ [ ], { } , [ {"x": [0]} ] ] }',
    '{"é": "ünïcode ✓"}',
]
NOT_OBJECTS = ["[1]", '"x"', "3", "null"]
INVALID = ['{a: 1}', '{"a" 1}', '{"a": 01}', '{"a": 1,}', '{"a": tru}', '{"a": "\\x"}',
           '{"a": [1}', '{"a": 1}}', '{"a": -}', '{"a": 1.}', '{"a": "\\u12G4"}', '{"a": .5}']  # fmt: skip


@pytest.mark.parametrize("text", VALID)
def test_every_prefix_of_valid_json_is_accepted_and_the_whole_is_complete(text):
    assert json.loads(text) is not None
    for end in range(len(text)):
        assert feed(JsonState(), text[:end]) is not None, text[:end]
    final = feed(JsonState(), text)
    assert final is not None and final.complete


@pytest.mark.parametrize("text", INVALID)
def test_invalid_json_is_rejected_or_left_incomplete(text):
    final = feed(JsonState(), text)
    assert final is None or not final.complete
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_json_that_is_not_an_object_is_refused(text):
    json.loads(text)
    assert feed(JsonState(), text) is None


def test_constraint_limits_blank_runs_and_ends():
    constraint = JsonConstraint()
    assert not constraint.allows("hello") and constraint.allows("{")
    constraint.advance("{")
    constraint.advance(" ")
    constraint.advance("\n")
    assert not constraint.allows("  "), "a third blank token in a row is refused"
    assert constraint.allows('"')
    for piece in ('"k"', ":", " 1", "}"):
        constraint.advance(piece)
    assert constraint.complete and not constraint.allows(",")


@pytest.mark.parametrize("text", [v[:cut] for v in VALID for cut in range(len(v))])
def test_closing_text_completes_any_prefix(text):
    state = feed(JsonState(), text)
    closed = text + closing_text(state)
    assert isinstance(json.loads(closed), dict), closed

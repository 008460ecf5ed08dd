"""What self-consistency votes on: answer projections, math equivalence and the tally."""

from __future__ import annotations

import random
import time

import pytest

from h2ogpt import plugins
from h2ogpt.errors import RequestError
from h2ogpt.scaling.algorithms.self_consistency import select_majority, tally_answers
from h2ogpt.scaling.choose import projection_named
from h2ogpt.scaling.options import ScalingOptions
from h2ogpt.scaling.projections import (
    auto_answer,
    boxed_answer,
    choice_letter,
    last_number,
    regex_projection,
    whole_text,
)
from h2ogpt.scaling.voting import Equivalence, VoteTally, canonical_key, math_equal, numbers_differ


# --- projections -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("The answer is \\boxed{24}.", "24"),
        ("\\boxed{ 24 }", "24"),
        ("first \\boxed{3}, finally \\boxed{4}", "4"),  # the last one
        ("so \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # nested braces
        ("\\boxed{x^{2} + \\sqrt{y_{1}}}", "x^{2} + \\sqrt{y_{1}}"),
        ("\\boxed {7}", "7"),
        ("\\boxed{5} and then an unclosed \\boxed{6", "5"),  # an unclosed last one is skipped
        ("no box here", None),
        ("\\boxed{", None),
        ("", None),
    ],
)
def test_boxed_answer(text, answer):
    assert boxed_answer(text) == answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("6 x 4 = 24", "24"),
        ("It costs 1,234 dollars", "1234"),
        ("a total of 1,234,567.89", "1234567.89"),
        ("the temperature fell to -12 degrees", "-12"),
        ("x = -0.75.", "-0.75"),
        ("That is 24.0", "24"),  # a trailing .0 dropped
        ("That is 2.50", "2.50"),
        ("half: 1/2", "1/2"),
        ("The answer is 42.", "42"),  # the full stop is not a decimal point
        ("3 apples and 5 pears", "5"),
        ("no digits", None),
    ],
)
def test_last_number(text, answer):
    assert last_number(text) == answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("The answer is (B).", "B"),
        ("the answer is c", "C"),
        ("Answer: D", "D"),
        ("option E", "E"),
        ("C) because the others are wrong", "C"),
        ("(A) it is", "A"),
        ("B. The second one", "B"),
        ("A) looked right, but the answer is (D)", "D"),  # the last one
        ("Because I said so", None),
        ("The answer is F", None),  # only A-E
    ],
)
def test_choice_letter(text, answer):
    assert choice_letter(text) == answer


def test_regex_projection_takes_the_first_group_of_the_first_match():
    project = regex_projection(r"answer:\s*(\w+)")
    assert project("Answer:  Paris. Later answer: Rome") == "Paris"  # case-insensitive, first match
    assert project("nothing") is None
    assert regex_projection(r"\d+")("page 12 of 30") == "12"  # no group: the whole match
    assert regex_projection(r"start(.*)end")("start\n  two lines \nend") == "two lines"  # DOTALL, stripped


def projection_for(name: str, regex: str = ""):
    return projection_named(name, ScalingOptions(answer_regex=regex))


def test_projections_by_name_and_regex_errors():
    assert projection_for("boxed") is boxed_answer
    assert projection_for("last-number") is last_number
    assert projection_for("choice") is choice_letter
    assert projection_for("text") is whole_text
    assert projection_for("auto") is auto_answer
    assert {"auto", "boxed", "last-number", "choice", "text", "regex"} <= set(
        plugins.answer_projections.names()
    )
    assert projection_for("regex", r"=\s*(\d+)")("x = 5") == "5"
    with pytest.raises(RequestError, match="answer_regex"):
        projection_for("regex")
    with pytest.raises(RequestError, match="not a valid regular expression"):
        projection_for("regex", "(unclosed")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("6 x 4 = 24, so \\boxed{24}", "24"),  # boxed first
        ("\\boxed{\\frac{1}{2}} of 10", "\\frac{1}{2}"),
        ("6 x 4 = 24 apples", "24"),  # else the last number
        ("  Paris,   of course \n", "Paris, of course"),  # else the whole text, whitespace collapsed
        ("   ", None),
    ],
)
def test_auto_answer(text, answer):
    assert auto_answer(text) == answer


def test_whole_text_collapses_whitespace():
    assert whole_text("  a \n\t b  ") == "a b"
    assert whole_text("\n \n") is None


# --- math equivalence --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("1/2", "0.5", True),
        ("24", "24.0", True),
        ("\\frac{1}{2}", "0.5", True),
        ("\\frac{1}{2}", "1/2", True),
        ("24", "24", True),
        ("3", "4", False),
        ("0.5", "0.25", False),
        ("Paris", "London", False),
        ("x" * 300, "y" * 300, False),  # too long: compared as text only
    ],
)
def test_math_equal(a, b, equal):
    assert math_equal(a, b) is equal
    assert math_equal(b, a) is equal


def test_math_equal_is_false_for_unparsable_input():
    assert math_equal("\\frac{", "}{") is False


# --- the tally ---------------------------------------------------------------------------
def tally_of(answers, equivalence=True) -> VoteTally:
    tally = VoteTally(equivalence)
    for answer in answers:
        tally.add(answer)
    return tally


def test_tally_groups_equal_answers_under_their_first_spelling():
    tally = tally_of(["0.5", "3", "1/2", "\\frac{1}{2}", "3.0", "7"])
    assert tally.groups == [0, 1, 0, 0, 1, 5]
    assert tally.counts() == {"0.5": 3, "3": 2, "7": 1}
    assert tally.top_two() == (3, 2)
    assert tally.leaders() == [0, 2, 3]


def test_tally_without_equivalence_compares_text():
    tally = tally_of(["0.5", "1/2", "0.5", "3"], equivalence=False)
    assert tally.counts() == {"0.5": 2, "1/2": 1, "3": 1}
    assert tally.leaders() == [0, 2]


def test_tally_counts_most_votes_first_and_ties_in_first_seen_order():
    tally = tally_of(["b", "a", "c", "a", "c", "d"], equivalence=False)
    assert list(tally.counts().items()) == [("a", 2), ("c", 2), ("b", 1), ("d", 1)]
    assert tally.top_two() == (2, 2)
    assert tally.leaders() == [1, 2, 3, 4]  # every response of every top answer


def test_answers_of_none_do_not_vote():
    tally = tally_of([None, "24", None, "7", "24", None])
    assert tally.groups == [None, 1, None, 3, 1, None]
    assert tally.counts() == {"24": 2, "7": 1}
    assert tally.top_two() == (2, 1)
    assert tally.leaders() == [1, 4]


def test_when_no_response_has_an_answer_all_tie():
    tally = tally_of([None, None, None])
    assert tally.counts() == {} and tally.top_two() == (0, 0)
    assert tally.leaders() == [0, 1, 2]
    assert tally_of(["only"]).top_two() == (1, 0)


def test_tally_answers_falls_back_to_the_whole_texts():
    """No text has a boxed answer: the texts themselves vote (whitespace collapsed)."""
    texts = ["I think  Paris", "London", "I think Paris "]
    tally = tally_answers(texts, boxed_answer, equivalence=True)
    assert tally.counts() == {"I think Paris": 2, "London": 1}
    assert tally.leaders() == [0, 2]
    assert tally_answers([], boxed_answer, True).counts() == {}


def test_select_majority_draws_among_the_leaders_with_the_rng():
    texts = ["\\boxed{1}", "\\boxed{2}", "no answer", "\\boxed{2}", "\\boxed{1}", "no answer either"]
    picks = set()
    for seed in range(40):
        tally, selected = select_majority(texts, boxed_answer, False, random.Random(seed))
        assert tally.counts() == {"1": 2, "2": 2}
        expected = random.Random(seed).choice([0, 1, 3, 4])  # its_hub: random.choice(indices)
        assert selected == expected
        picks.add(selected)
    assert picks == {0, 1, 3, 4}


def test_equal_keys_group_without_math_verify_and_each_pair_is_verified_once():
    equivalence = Equivalence()
    tally = VoteTally(equivalence)
    for answer in ["24", "24.0", "$24$", "24.", "0.5", "1/2", ".5", "x", "x"]:
        tally.add(answer)
    assert tally.counts() == {"24": 4, "0.5": 3, "x": 2}
    assert equivalence.verified_pairs == 2  # x vs 24 and x vs 0.5 (two numbers: told apart exactly)


def test_plain_numbers_that_differ_are_told_apart_without_math_verify():
    equivalence = Equivalence()
    tally = VoteTally(equivalence)
    for answer in ["24", "25", "-24", "0.5", "3/4", "1,000", "1000.5", "0.3333333", "1/3"]:
        tally.add(answer)
    assert equivalence.verified_pairs == 1  # only 0.3333333 vs 1/3: within math-verify's rounding
    assert len(tally.counts()) in (8, 9)  # whatever math-verify says of that pair
    assert numbers_differ("24", "25") and numbers_differ("1,000", "1000.01")
    assert not numbers_differ("24", "x") and not numbers_differ("0.3333333", "1/3")


def test_sixty_four_votes_of_few_distinct_answers_cost_few_comparisons():
    equivalence = Equivalence()
    tally = VoteTally(equivalence)
    spellings = ["12", "12.0", "\\frac{24}{2}", "13", "6*2", "11", "twelve", "1/2"]
    for i in range(64):
        tally.add(spellings[(i * 5) % len(spellings)])
    distinct = len({canonical_key(s) for s in spellings})
    assert equivalence.verified_pairs <= distinct * (distinct - 1) // 2
    assert tally.counts()["12"] == 32  # 12, 12.0, \\frac{24}{2} and 6*2


def test_past_the_deadline_only_keys_are_compared():
    late = Equivalence(deadline=time.monotonic() - 1)
    tally = VoteTally(late)
    for answer in ["0.5", "1/2", "\\frac{1}{2}"]:
        tally.add(answer)
    assert tally.counts() == {"0.5": 2, "\\frac{1}{2}": 1} and late.verified_pairs == 0

"""Token choice of the llama.cpp engine against a plain full-sort implementation.

The chooser finds top-k among the tokens near the best one and walks blocked cumulative
sums; these tests hold it to the textbook definition (sort everything, keep the top k,
then the nucleus, renormalize, invert the CDF with the same uniform number)."""

from __future__ import annotations

import numpy as np
import pytest

from h2ogpt.backends.base import SamplingParams
from h2ogpt.backends.llamacpp.runner import BLOCK
from h2ogpt.backends.llamacpp.sampling import Chooser, scaled_top_k
from h2ogpt.backends.sequences import Row

VOCAB = 3000


def logit_rows(seed: int, rows: int) -> np.ndarray:
    """Rows of varied shape: peaked, flat, tied, with masked (-inf) tokens."""
    rng = np.random.default_rng(seed)
    out = (rng.standard_normal((rows, VOCAB)) * rng.uniform(0.3, 6.0, (rows, 1))).astype(np.float32)
    out[0, : VOCAB // 2] = -np.inf  # half the vocabulary masked (JSON mode)
    out[1] = np.round(out[1])  # many ties
    out[2] = 0.0  # flat
    return out


def reference_top_k(values: np.ndarray, k: int) -> np.ndarray:
    kth = np.sort(values)[::-1][k - 1]
    return np.flatnonzero(values >= kth)


def reference_pick(logits: np.ndarray, params: SamplingParams, draw: float) -> int:
    scaled = logits.astype(np.float64) / params.temperature
    ids = np.arange(len(scaled))
    if params.top_k and params.top_k < len(scaled):
        ids = reference_top_k(scaled, params.top_k)
    probs = np.exp(scaled[ids] - scaled.max())
    if params.top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        ids, probs = ids[order], probs[order]
        cumulative = np.cumsum(probs)
        kept = max(1, int(np.count_nonzero(cumulative - probs <= params.top_p * probs.sum())))
        ids, probs = ids[:kept], probs[:kept]
    cumulative = np.cumsum(probs)
    return int(ids[min(int(np.searchsorted(cumulative, draw * cumulative[-1], side="right")), len(ids) - 1)])


@pytest.mark.parametrize("k", [1, 5, 50, 400, VOCAB - 1])
def test_top_k_is_the_full_sort_set(k):
    for row in logit_rows(3, 8):
        found, values = scaled_top_k(row, np.float32(1.0), row.max(), k)
        assert found.tolist() == reference_top_k(row, k).tolist()
        assert np.array_equal(values, row[found])


@pytest.mark.parametrize("k", [1, 50, 400, VOCAB - 1])
@pytest.mark.parametrize("temperature", [0.05, 0.7, 1.9])
def test_top_k_found_on_raw_logits_is_the_scaled_rows_top_k(k, temperature):
    """Sampling with top-k finds candidates on the raw logits (no scaled copy of the row): the
    same ids, and the same scaled values, as a full sort of the scaled row."""
    inv_t = np.float32(1.0 / temperature)
    for row in logit_rows(5, 8):
        scaled_row = row * inv_t
        ids, scaled = scaled_top_k(row, inv_t, row.max() * inv_t, k)
        assert ids.tolist() == reference_top_k(scaled_row, k).tolist()
        assert np.array_equal(scaled, scaled_row[ids])


def choose_many(params: SamplingParams, logits: np.ndarray, seed: int) -> tuple[list[int], np.ndarray]:
    """The chooser's tokens for ``logits`` and the uniform numbers it drew (same seed)."""
    scratch = np.zeros((len(logits), -(-VOCAB // BLOCK) * BLOCK), dtype=np.float32)
    chooser = Chooser(
        params,
        VOCAB,
        lambda n: scratch[:n],
        token_text=str,
        encode_plain=lambda text: [],
        eos_ids={0},
        rng=np.random.default_rng(seed),
    )
    rows = [Row(index=i, prompt_ids=[1], params=params) for i in range(len(logits))]
    return chooser.choose(logits, rows), np.random.default_rng(seed).random(len(logits))


@pytest.mark.parametrize(
    "shaping",
    [
        {"top_k": 50},
        {"top_k": 7, "top_p": 0.9},
        {"top_p": 0.8},
        {},
        {"top_k": 2000},
    ],
)
@pytest.mark.parametrize("temperature", [0.5, 1.3])
def test_draws_match_the_textbook_definition(shaping, temperature):
    params = SamplingParams(max_new_tokens=1, temperature=temperature, **shaping)
    logits = logit_rows(11, 10)
    for seed in range(20):
        chosen, draws = choose_many(params, logits, seed)
        expected = [reference_pick(row, params, draw) for row, draw in zip(logits, draws, strict=True)]
        assert chosen == expected, (shaping, temperature, seed)


def test_top_k_frequencies_follow_the_renormalized_distribution():
    logits = np.array([[4.0, 3.0, 2.0, 1.0] + [-1.0] * (VOCAB - 4)], dtype=np.float32)
    params = SamplingParams(max_new_tokens=1, temperature=1.0, top_k=3)
    counts = np.zeros(VOCAB)
    for seed in range(3000):
        counts[choose_many(params, logits, seed)[0][0]] += 1
    expected = np.exp([4.0, 3.0, 2.0]) / np.exp([4.0, 3.0, 2.0]).sum()
    assert counts[3:].sum() == 0
    assert np.abs(counts[:3] / 3000 - expected).max() < 0.03

"""The llama.cpp engine's batched primitives, on the real embedded GGUF model (no torch)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import llama_cpp.llama_cpp as C
import numpy as np
import pytest

from h2ogpt.backends.base import Completion, SamplingParams, TextDelta
from h2ogpt.backends.llamacpp import native, scoring
from h2ogpt.backends.llamacpp.engine import LlamaCppEngine
from h2ogpt.backends.llamacpp.model import LlamaModel
from h2ogpt.backends.model_source import embedded_gguf_path
from h2ogpt.backends.sequences import DecodeJob
from h2ogpt.errors import ConfigError, ModelNotFoundError, RequestError

GREEDY = SamplingParams(max_new_tokens=12)


@pytest.fixture(scope="module")
def engine():
    engine = LlamaCppEngine.load(str(embedded_gguf_path()), name="SmolLM2-135M-Instruct", max_rows=8)
    yield engine
    engine.close()


@pytest.fixture(autouse=True)
def no_leaked_sequences(engine):
    """Every test gives back the sequences and KV cells it used."""
    yield
    engine.runner.kv.reap()
    assert engine.runner.kv.free_seqs == engine.runner.kv.n_seq
    assert engine.runner.kv.reserved == 0


def chat(engine, question: str) -> str:
    return engine.apply_chat_template([{"role": "user", "content": question}])


@pytest.fixture(scope="module")
def prompt(engine) -> str:
    return chat(engine, "Write a short poem about the sea.")


# --- loading ----------------------------------------------------------------------------
def test_info_and_capabilities(engine):
    assert engine.info.context_length == 8192
    assert engine.info.device == "cpu"
    assert engine.info.dtype == "Q4_1"
    caps = engine.capabilities
    assert caps.logprobs and caps.prefix_sharing and caps.step_sessions and caps.json_object
    assert caps.streaming and caps.batched_sampling and caps.raw_continuation and not caps.vision


def test_chat_template_renders_chatml(engine):
    text = engine.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    )
    assert (
        text
        == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert chat(engine, "Hi").startswith("<|im_start|>system\nYou are a helpful AI assistant")


def test_tokens(engine, prompt):
    ids = engine.encode(prompt)
    assert ids[0] == engine.model.bos_id  # <|im_start|> parsed as the special token, no second BOS
    assert engine.count_tokens(prompt) == len(ids)
    assert engine.model.detokenize(engine.encode("Hello world")) == "Hello world"
    assert engine.model.token_text(engine.model.eos_id) == "<|im_end|>"
    assert engine.model.detokenize([engine.model.eos_id]) == ""  # special tokens skipped in answers


def test_the_engine_imports_no_torch():
    code = (
        "import sys; from h2ogpt.backends.llamacpp.engine import LlamaCppEngine; "
        "print([m for m in ('torch', 'transformers') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "missing"])
def test_bad_model_files_fail_with_one_clear_line(tmp_path, kind):
    path = tmp_path / "model.gguf"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        with open(embedded_gguf_path(), "rb") as source:
            path.write_bytes(source.read(40_000_000))
    elif kind == "text":
        path.write_text("this is not a model\n")
    expected = ModelNotFoundError if kind == "missing" else ConfigError
    with pytest.raises(expected) as failure:
        LlamaCppEngine.load(str(path), name="bad")
    message = str(failure.value)
    assert str(path) in message and "\n" not in message
    word = {"empty": "empty", "truncated": "truncated", "text": "not a GGUF", "missing": "does not exist"}[
        kind
    ]
    assert word in message


def test_llama_cpp_logs_go_to_python_logging(tmp_path, caplog, capfd):
    copy = tmp_path / "copy.gguf"
    shutil.copy(embedded_gguf_path(), copy)
    with caplog.at_level(logging.DEBUG, logger="h2ogpt.backends.llamacpp"):
        LlamaCppEngine.load(str(copy), name="copy", n_ctx=512, max_rows=2).close()
    assert any("llama.cpp:" in r.getMessage() for r in caplog.records)
    assert all(
        r.levelno == logging.DEBUG for r in caplog.records if r.name.startswith("h2ogpt.backends.llamacpp")
    )
    out, err = capfd.readouterr()
    assert "llama" not in err and "llama" not in out


# --- generation -------------------------------------------------------------------------
def test_greedy_is_deterministic_and_streams_its_text(engine, prompt):
    events = list(engine.stream(prompt, GREEDY))
    done = [e for e in events if isinstance(e, Completion)]
    assert len(done) == 1
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done[0].text
    assert done[0].text and done[0].completion_tokens == len(done[0].logprobs) == 12
    assert done[0].finish_reason == "length"
    again = engine.sample(prompt, GREEDY)[0]
    assert again.text == done[0].text
    assert all(t.logprob <= 0 for t in done[0].logprobs)


def test_same_seed_same_samples(engine, prompt):
    params = SamplingParams(max_new_tokens=10, temperature=0.9, top_p=0.95, top_k=50, seed=7)
    first = [c.text for c in engine.sample(prompt, params, n=3)]
    again = [c.text for c in engine.sample(prompt, params, n=3)]
    other = [c.text for c in engine.sample(prompt, SamplingParams(**{**params.__dict__, "seed": 8}), n=3)]
    assert first == again
    assert first != other
    assert len(set(first)) > 1  # the samples of one call differ from each other


def test_n_samples_share_one_prefill_and_one_decode_per_step(engine, prompt):
    steps = 8
    prefill, calls = engine.prefill_tokens, engine.decode_calls
    done = engine.sample(prompt, SamplingParams(max_new_tokens=steps, temperature=0.8, seed=1), n=4)
    assert [c.index for c in done] == [0, 1, 2, 3]
    assert engine.prefill_tokens - prefill == len(engine.encode(prompt))
    assert engine.decode_calls - calls <= steps  # one prefill + one call per step, not per sample


def test_stop_strings_are_cut_and_never_streamed(engine, prompt):
    free = engine.sample(prompt, SamplingParams(max_new_tokens=24))[0].text
    words = free.split()
    stop = words[min(3, len(words) - 1)]
    events = list(engine.stream(prompt, SamplingParams(max_new_tokens=24, stop=(stop,))))
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    (done,) = [e for e in events if isinstance(e, Completion)]
    assert stop not in streamed and stop not in done.text
    assert done.finish_reason == "stop" and streamed == done.text
    assert free.startswith(done.text)


def test_end_of_sequence_and_limits(engine):
    short = engine.sample(chat(engine, "Say just: yes"), SamplingParams(max_new_tokens=40))[0]
    assert short.finish_reason == "stop"
    assert "<|im_end|>" not in short.text
    assert len(short.logprobs) == short.completion_tokens - 1  # the end-of-sequence token is dropped
    long = engine.sample(chat(engine, "Count to fifty."), SamplingParams(max_new_tokens=5))[0]
    assert long.finish_reason == "length" and long.completion_tokens == 5
    timed = engine.sample(chat(engine, "Count to fifty."), SamplingParams(max_new_tokens=200, max_time=1e-9))[
        0
    ]
    assert timed.finish_reason == "time" and timed.completion_tokens < 200


def test_top_logprobs(engine, prompt):
    done = engine.sample(prompt, SamplingParams(max_new_tokens=4, top_logprobs=3))[0]
    for token in done.logprobs:
        assert len(token.top) == 3
        assert token.top[0][0] == token.token and token.top[0][1] == pytest.approx(token.logprob, abs=1e-5)
        assert token.top[0][1] >= token.top[1][1] >= token.top[2][1]


def test_json_object_answers_parse(engine):
    params = SamplingParams(max_new_tokens=40, temperature=0.7, seed=3, json_object=True)
    for done in engine.sample(chat(engine, "Describe a cat as JSON."), params, n=2):
        assert isinstance(json.loads(done.text), dict)


def test_penalties_change_the_answer(engine, prompt):
    plain = engine.sample(prompt, SamplingParams(max_new_tokens=16))[0].text
    penalized = engine.sample(prompt, SamplingParams(max_new_tokens=16, repetition_penalty=5.0))[0].text
    assert penalized != plain


def test_continue_texts_batches_many_prompts(engine):
    texts = ["The capital of France is", "One, two, three,", "def add(a, b):"]
    prefill, calls = engine.prefill_tokens, engine.decode_calls
    done = engine.continue_texts(texts, SamplingParams(max_new_tokens=6))
    assert [c.index for c in done] == [0, 1, 2]
    assert all(c.text and c.prompt_tokens == len(engine.encode(t)) for c, t in zip(done, texts, strict=True))
    assert engine.prefill_tokens - prefill == sum(len(engine.encode(t)) for t in texts)
    assert engine.decode_calls - calls <= 6


FOUR_TEXTS = ["The capital of France is", "One, two, three,", "def add(a, b):", "Water boils at"]


@pytest.fixture(scope="module")
def flash_engine():
    """An engine with flash attention, whose attention sums do not depend on the other rows in
    the cache (without it a row's sums round a little differently beside other rows: see
    LlamaModel._create_context); so only the matrix kernels differ between rows and alone."""
    model = LlamaModel(str(embedded_gguf_path()), max_rows=4, kv_cells=1024, flash_attention=True)
    engine = LlamaCppEngine(model, name="SmolLM2-135M-Instruct")
    yield engine
    engine.close()


def test_a_step_of_several_rows_gives_each_row_its_one_row_logits(flash_engine):
    """A step of several rows runs other matrix kernels than a step of one (on an AMX CPU: our
    patch's few-row AMX kernels for 2-16 rows, 8 rows per call; llama.cpp's AMX kernel beyond):
    each row's logits are those of its token decoded alone."""
    model, runner = flash_engine.model, flash_engine.runner
    try:
        for rows in (2, 5, 9, 17):
            prompts = [model.tokenize(FOUR_TEXTS[i % len(FOUR_TEXTS)], True) for i in range(rows)]
            tokens = np.array([100 + 7 * seq for seq in range(rows)], dtype=np.int32)
            positions = np.array([len(ids) for ids in prompts], dtype=np.int32)
            C.llama_memory_clear(model.memory, True)
            for seq, ids in enumerate(prompts):
                runner.prefill(seq, ids)
            runner.batch.add_outputs(tokens, positions, np.arange(rows, dtype=np.int32))
            runner.decode()
            together = np.array(runner.outputs(rows))
            for seq in range(rows):
                C.llama_memory_clear(model.memory, True)
                runner.prefill(0, prompts[seq])
                runner.batch.add_outputs(
                    tokens[seq : seq + 1], positions[seq : seq + 1], np.zeros(1, np.int32)
                )
                runner.decode()
                np.testing.assert_allclose(together[seq], runner.outputs(1)[0], rtol=0, atol=1e-4)
    finally:
        C.llama_memory_clear(model.memory, True)


def test_continued_texts_read_as_when_continued_alone(flash_engine):
    params = SamplingParams(max_new_tokens=8)
    together = flash_engine.continue_texts(FOUR_TEXTS, params)
    for text, batched in zip(FOUR_TEXTS, together, strict=True):
        (alone,) = flash_engine.continue_texts([text], params)
        assert batched.text == alone.text
        drift = max(abs(a.logprob - b.logprob) for a, b in zip(batched.logprobs, alone.logprobs, strict=True))
        assert drift < 1e-4, text


def test_prompt_errors(engine):
    with pytest.raises(RequestError, match="more than the model's context of 8192"):
        engine.prompt_ids("hello", SamplingParams(max_new_tokens=9000))
    with pytest.raises(RequestError, match="the prompt is empty"):
        engine.prompt_ids("", GREEDY)
    with pytest.raises(RequestError, match="n=0"):
        engine.prompt_ids("hello", GREEDY, n=0)


# --- continuous batching ----------------------------------------------------------------
def test_admitted_jobs_join_a_running_batch(engine, prompt):
    other = chat(engine, "What is the capital of Japan?")  # a clear answer: no near tie
    alone = engine.sample(other, GREEDY)[0].text
    first = DecodeJob(engine.encode(prompt), 2, GREEDY)
    joining = DecodeJob(engine.encode(other), 1, GREEDY)
    seen: list[int] = []

    def admit(active: int):
        seen.append(active)
        return [joining] if len(seen) == 3 else []

    calls = engine.decode_calls
    events = list(engine.stream_jobs([first], GREEDY, admit=admit))
    done = {e.index: e for e in events if isinstance(e, Completion)}
    assert sorted(done) == [0, 1, 2]
    assert seen[:4] == [2, 2, 2, 3]  # called between steps with the rows running or waiting
    assert done[2].text == alone
    assert done[0].text == done[1].text  # greedy rows of one prompt agree
    # one llama_decode per step: the joining prompt was prefilled along with a running step
    # (the third), so it ends two steps after a row that started with the first
    assert engine.decode_calls - calls == max(12, 2 + done[2].completion_tokens)


def test_cancelled_rows_leave_the_batch(engine, prompt):
    cancelled: set[int] = set()
    events = []
    for event in engine.stream_jobs(
        [DecodeJob(engine.encode(prompt), 3, GREEDY)], GREEDY, cancelled=cancelled.__contains__
    ):
        events.append(event)
        cancelled.add(1)
    assert events[0].index == 0
    assert sorted(e.index for e in events if isinstance(e, Completion)) == [0, 2]
    assert all(e.index != 1 for e in events)  # cancelled before its first event: nothing more


def test_interleaved_streams_do_not_disturb_each_other(engine, prompt):
    other = chat(engine, "What is the capital of Japan?")  # a clear answer: no near tie
    expected = [engine.sample(p, GREEDY)[0].text for p in (prompt, other)]
    streams = [engine.stream(p, GREEDY) for p in (prompt, other)]
    done: dict[int, str] = {}
    while len(done) < 2:
        for number, stream in enumerate(streams):
            if number not in done:
                event = next(stream)
                if isinstance(event, Completion):
                    done[number] = event.text
    assert [done[0], done[1]] == expected


def test_closing_the_stream_frees_its_sequences(engine, prompt):
    stream = engine.stream(prompt, SamplingParams(max_new_tokens=50), n=3)
    next(stream)
    stream.close()  # the autouse fixture checks that everything came back


def test_more_rows_than_max_rows_wait_their_turn(engine, prompt):
    params = SamplingParams(max_new_tokens=4, temperature=0.8, seed=2)
    done = engine.sample(prompt, params, n=engine.model.max_rows + 3)
    assert [c.index for c in done] == list(range(engine.model.max_rows + 3))
    assert all(c.completion_tokens for c in done)


# --- scoring ----------------------------------------------------------------------------
def test_score_continuations_agrees_with_next_token_logprobs(engine):
    question = chat(engine, "What is the capital of France?")
    scores = engine.score_continuations(question, ["Paris", "The capital of France is Paris.", ""])
    assert scores[2].tokens == () and scores[2].logprobs == ()
    assert scores[0].total > -15
    # token by token: each logprob equals the one computed after the prefix alone
    ids = engine.encode(question)
    cont = engine.count_tokens("The capital of France is Paris.")
    cont_ids = engine.model.tokenize("The capital of France is Paris.", add_special=False)
    assert len(cont_ids) == cont == len(scores[1].logprobs)
    for j, token in enumerate(cont_ids):
        (top,) = scoring.next_token_logprobs(
            engine.runner, engine.model.token_text, ids, [cont_ids[:j]], 3000
        )
        expected = dict(top)[engine.model.token_text(token)]
        assert scores[1].logprobs[j] == pytest.approx(expected, abs=2e-3)
    # alone or with others, the same numbers
    (single,) = engine.score_continuations(question, ["The capital of France is Paris."])
    assert np.allclose(single.logprobs, scores[1].logprobs, atol=2e-3)


def test_next_token_logprobs_shares_the_prefix(engine):
    prefix = chat(engine, "Is the sky blue? Answer yes or no.")
    prefill = engine.prefill_tokens
    result = engine.next_token_logprobs(prefix, ["", "Yes", "No, it is"], top=5)
    suffix_tokens = engine.count_tokens("Yes") + engine.count_tokens("No, it is")
    assert engine.prefill_tokens - prefill == len(engine.encode(prefix)) + suffix_tokens
    assert [len(r) for r in result] == [5, 5, 5]
    for candidates in result:
        values = [v for _, v in candidates]
        assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)
    assert sum(np.exp(v) for _, v in result[0]) <= 1.0 + 1e-6
    with pytest.raises(RequestError):
        engine.next_token_logprobs("", ["x"], top=2)


def test_logits_rows_follow_batch_order(engine):
    """llama_get_logits rows are the outputs in batch order, as llama_get_logits_ith says."""
    kv, runner = engine.runner.kv, engine.runner
    seqs = kv.take(3)
    try:
        for seq, tokens in zip(seqs, ([1, 2, 3], [4, 5], [6]), strict=True):
            runner.batch.add(tokens, 0, seq, output_last=True)
        runner.decode()
        base = native.logits_address(engine.model.ctx)
        for i, index in enumerate((2, 4, 5)):
            assert native.logits_ith_address(engine.model.ctx, index) == base + 4 * i * engine.model.n_vocab
    finally:
        kv.give_back(seqs)


# --- step sessions ----------------------------------------------------------------------
def test_step_session_extend_select_add(engine):
    # counting: every step is certain, so rows with the same history must give the same step
    # (near ties could flip with the batch's layout, which llama.cpp does not promise to ignore)
    prompt = chat(engine, "Count from 1 to 30, one number per line.")
    params = SamplingParams(max_new_tokens=30, stop=("\n",))
    plain = engine.sample(prompt, params)[0].text
    prefill = engine.prefill_tokens
    session = engine.open_steps(prompt, params, rows=2)
    try:
        assert session.prompt_tokens == len(engine.encode(prompt)) and session.rows == 2
        assert engine.prefill_tokens - prefill == session.prompt_tokens
        first = session.extend([0, 1], params)
        assert first[0].text == first[1].text == plain  # greedy rows agree with a plain answer
        assert not first[0].ended and first[0].token_ids
        calls = engine.decode_calls
        session.select([1, 0, 0])  # a permutation and a copy: nothing decoded
        assert session.rows == 3 and engine.decode_calls == calls
        assert engine.runner.kv.reserved <= session.prompt_tokens + 3 * len(first[0].token_ids)
        second = session.extend([0, 2], params)
        assert second[0].text == second[1].text
        prefill = engine.prefill_tokens
        session.add([[first[0], second[0]], []])
        assert session.rows == 5
        # the re-grown row decodes only its steps' tokens, never the prompt again
        assert engine.prefill_tokens - prefill == len(first[0].token_ids) + len(second[0].token_ids)
        assert session.prompt_encodes == 1
        regrown = session.extend([0, 3], params)  # row 3: the prompt + the same two steps as row 0
        assert regrown[0].text == regrown[1].text
        fresh = session.extend([4], params)  # row 4 is the bare prompt again
        assert fresh[0].text == first[0].text
    finally:
        session.close()


def test_step_session_ends_at_max_new_tokens(engine, prompt):
    params = SamplingParams(max_new_tokens=5)
    session = engine.open_steps(prompt, params, rows=1)
    try:
        (out,) = session.extend([0], params)
        assert out.ended and out.completion_tokens == 5
        (after,) = session.extend([0], params)
        assert after == type(after)("", (), True, 0, 0.0)
    finally:
        session.close()


# --- batches smaller than the prompts ---------------------------------------------------
def test_prompts_longer_than_a_batch_are_decoded_in_chunks():
    """A batch of 48 tokens: prompts, admitted prompts, continuations and step prefixes longer
    than that are split into several llama_decode calls, with the same results as one call
    (which llama.cpp splits into the same 48-token micro-batches: numbers depend on those)."""
    from h2ogpt.backends.llamacpp.model import LlamaModel

    path = str(embedded_gguf_path())
    small = LlamaCppEngine(LlamaModel(path, n_ctx=1024, max_rows=2, n_batch=48), "small")
    wide = LlamaCppEngine(LlamaModel(path, n_ctx=1024, max_rows=2, n_ubatch=48), "wide")
    try:
        assert small.model.n_batch == 48 and wide.model.n_batch > 1000
        long_prompt = chat(small, "Summarize: " + "The quick brown fox jumps over the lazy dog. " * 8)
        assert len(small.encode(long_prompt)) > 2 * small.model.n_batch
        params = SamplingParams(max_new_tokens=6)
        expected = wide.sample(long_prompt, params)[0].text
        assert [c.text for c in small.sample(long_prompt, params, n=2)] == [expected, expected]
        first = DecodeJob(small.encode(chat(small, "Hi")), 1, params)
        late = DecodeJob(small.encode(long_prompt), 1, params)
        admitted = []

        def admit(active):
            admitted.append(active)
            return [late] if len(admitted) == 2 else []

        done = {
            e.index: e for e in small.stream_jobs([first], params, admit=admit) if isinstance(e, Completion)
        }
        assert done[1].text == expected
        continuation = " The fox was quick and the dog was lazy," * 5
        (chunked,) = small.score_continuations(long_prompt, [continuation])
        (whole,) = wide.score_continuations(long_prompt, [continuation])
        assert len(chunked.logprobs) > small.model.n_batch
        assert np.allclose(chunked.logprobs, whole.logprobs, atol=1e-3)
        session = small.open_steps(long_prompt, SamplingParams(max_new_tokens=60), rows=1)
        try:
            steps = [session.extend([0], SamplingParams(max_new_tokens=60, stop=(",",)))[0] for _ in range(2)]
            session.add([steps * 3])  # a prefix longer than a batch
            assert session.rows == 2 and session.prompt_encodes == 1
        finally:
            session.close()
        small.runner.kv.reap()
        assert small.runner.kv.free_seqs == small.runner.kv.n_seq and small.runner.kv.reserved == 0
    finally:
        small.close()
        wide.close()

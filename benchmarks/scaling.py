"""Inference-time scaling on a question/answer set: accuracy and cost against the budget.

One line per (engine, algorithm[/reward], budget), JSON with --json: accuracy (the selected
answer is right), pass_at_budget (oracle: a candidate is right; null where the engine shows
no candidates), mean_wall_s (per item, around the whole call), tokens (per item mean, prompt
+ completion, judge calls included). Datasets and grading: benchmarks/scaling_data.py.
Engine "h2ogpt": Pipeline.answer in this process. --vs-its-hub also serves the same model
with our OpenAI-compatible API on loopback and runs each setting through it as "its_hub"
(its_hub's SelfConsistency with our auto_answer projection, BestOfN with --its-hub-judge)
and "h2ogpt-api" (our algorithm via extra body fields of the openai client). Item i uses
seed --seed + i at every budget (its_hub sends no seed: only its vote ties are seeded).

    python benchmarks/scaling.py --dataset FILE.jsonl [--algorithm self-consistency,best-of-n]
        [--budgets 1,2,4,8,16] [--reward judge,self-certainty] [--limit N] [--json]
        [--plot out.png] [--vs-its-hub] [--max-new-tokens 64] [--temperature 0.7] [--seed 0]
        [--engine auto|llama.cpp|transformers] [--base-model PRESET_OR_PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

import openai  # noqa: E402
from scaling_data import SUFFIX_HELP, Item, read_items, suffix_for  # noqa: E402

from h2ogpt import plugins  # noqa: E402
from h2ogpt.answering.pipeline import Pipeline  # noqa: E402
from h2ogpt.core import build_pipeline  # noqa: E402
from h2ogpt.events import ErrorEvent, FinalAnswer  # noqa: E402
from h2ogpt.request import AnswerRequest  # noqa: E402
from h2ogpt.scaling.projections import auto_answer  # noqa: E402
from h2ogpt.scaling.rewards.outcome import JUDGE_SYSTEM, YES_NO_QUESTION, yes_probability  # noqa: E402
from h2ogpt.scaling.task import JUDGE_TOP_LOGPROBS  # noqa: E402
from h2ogpt.settings import Settings  # noqa: E402
from openai_server.server import serve_in_thread  # noqa: E402

log = logging.getLogger("benchmarks.scaling")
ITS_HUB_ALGORITHMS = ("self-consistency", "best-of-n")
JUDGE_HELP = (
    "its_hub best-of-n reward: h2ogpt-judge (our judge's P(Yes), as an its_hub reward model through "
    "the API: equivalent) or llm-judge (its_hub's LLMJudge, a 0-10 JSON score, response_format=None)"
)


@dataclass(frozen=True)
class Setting:
    engine: str
    algorithm: str
    reward: str | None = None  # best-of-n's outcome reward


@dataclass(frozen=True)
class Answer:
    text: str
    candidates: list[str] | None  # None: the engine does not show them
    tokens: int


Runner = Callable[[Setting, str, int, int], Answer]  # (setting, question, budget, seed)


def scaling_fields(setting: Setting, budget: int) -> dict[str, Any]:
    fields: dict[str, Any] = {"scaling_algorithm": setting.algorithm, "budget": budget}
    return {**fields, "outcome_reward": setting.reward} if setting.reward else fields


def in_process(pipeline: Pipeline, args: argparse.Namespace) -> Runner:
    def run(setting: Setting, question: str, budget: int, seed: int) -> Answer:
        sampling = {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "seed": seed}
        request = AnswerRequest.from_prompt(question, **sampling, **scaling_fields(setting, budget))
        final = None
        for event in pipeline.answer(request):
            if isinstance(event, ErrorEvent):
                raise RuntimeError(f"{setting}: {event.message}")
            if isinstance(event, FinalAnswer):
                final = event
        result = final.scaling
        tokens = result.usage.total_prompt_tokens + result.usage.total_completion_tokens
        return Answer(result.text, [c.text for c in result.candidates], tokens)

    return run


def via_api(client: openai.OpenAI, model: str, args: argparse.Namespace) -> Runner:
    def run(setting: Setting, question: str, budget: int, seed: int) -> Answer:
        messages = [{"role": "user", "content": question}]
        sampling = {"max_tokens": args.max_new_tokens, "temperature": args.temperature, "seed": seed}
        fields = {**scaling_fields(setting, budget), "return_response_only": False}  # candidates in metadata
        reply = client.chat.completions.create(model=model, messages=messages, **sampling, extra_body=fields)
        metadata = reply.metadata  # the openai client declares the field (for its own use)
        candidates = [r["content"] for r in metadata["all_responses"]]
        return Answer(reply.choices[0].message.content or "", candidates, reply.usage.total_tokens)

    return run


class CountingLM:
    """An its_hub language model that counts the tokens of every call, the judge's too
    (it is its own usage accumulator: its_hub calls ``add(prompt, completion)``)."""

    def __init__(self, lm: Any) -> None:
        self.lm, self.tokens = lm, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lm, name)

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.tokens += prompt_tokens + completion_tokens

    async def agenerate_single(self, messages: list, **kwargs: Any) -> dict:
        return await self.lm.agenerate_single(messages, **{**kwargs, "usage_accumulator": self})


class YesJudge:
    """Our ``judge`` outcome reward as an its_hub reward model: P(Yes) to the same grading
    question, read from one next token's top logprobs through the API."""

    PARAMS: ClassVar[dict] = {
        "max_tokens": 1,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": JUDGE_TOP_LOGPROBS,
    }

    def __init__(self, lm: CountingLM) -> None:
        self.lm = lm

    async def ascore(self, conversations: list[list[Any]], **_: Any) -> list[float]:
        async with openai.AsyncOpenAI(base_url=self.lm.endpoint, api_key=self.lm.api_key) as client:
            return list(await asyncio.gather(*(self.judge(client, c) for c in conversations)))

    async def judge(self, client: openai.AsyncOpenAI, conversation: list[Any]) -> float:
        question = next(m.content for m in reversed(conversation[:-1]) if m.role == "user")
        prompt = YES_NO_QUESTION.format(question=question, answer=conversation[-1].content or "")
        messages = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": prompt}]
        reply = await client.chat.completions.create(
            model=self.lm.model_name, messages=messages, **self.PARAMS
        )
        self.lm.add(reply.usage.prompt_tokens, reply.usage.completion_tokens)
        probs: dict[str, float] = {}
        for alt in reply.choices[0].logprobs.content[0].top_logprobs:
            key = alt.token.strip().lower()
            probs[key] = probs.get(key, 0.0) + math.exp(alt.logprob)
        return yes_probability(probs)


def its_hub(base_url: str, model: str, args: argparse.Namespace) -> Runner:
    from its_hub import BestOfN, LLMJudge, OpenAICompatibleLanguageModel, SelfConsistency

    sampling = {"temperature": args.temperature, "max_completion_tokens": args.max_new_tokens}
    lm = OpenAICompatibleLanguageModel(endpoint=base_url, api_key="benchmark", model_name=model, **sampling)
    counting = CountingLM(lm)
    algorithms = {
        "self-consistency": SelfConsistency(auto_answer),
        "judge": BestOfN(YesJudge(counting)),
        "llm-judge": BestOfN(LLMJudge(counting, response_format=None)),
    }

    def run(setting: Setting, question: str, budget: int, seed: int) -> Answer:
        random.seed(seed)  # its_hub breaks vote ties with the global generator
        counting.tokens = 0
        result = algorithms[setting.reward or setting.algorithm].infer(
            counting, question, budget, return_response_only=False
        )
        texts = [r.get("content") or "" for r in result.responses]
        return Answer(texts[result.selected_index], texts, counting.tokens)

    return run


def settings_for(engine: str, args: argparse.Namespace) -> list[Setting]:
    settings = []
    for algorithm in args.algorithm:
        if engine == "its_hub" and algorithm not in ITS_HUB_ALGORITHMS:
            continue
        if algorithm != "best-of-n":
            settings.append(Setting(engine, algorithm))
        elif engine == "its_hub":
            reward = "judge" if args.its_hub_judge == "h2ogpt-judge" else "llm-judge"
            settings.append(Setting(engine, algorithm, reward))
        else:
            settings.extend(Setting(engine, algorithm, reward) for reward in args.reward)
    return settings


def measure(
    runner: Runner, setting: Setting, items: list[Item], budget: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One setting at one budget over every item: the summary row."""
    correct, passed, walls, tokens = [], [], [], []
    for index, item in enumerate(items):
        started = time.perf_counter()
        answer = runner(setting, item.prompt(args.suffix_text), budget, args.seed + index)
        walls.append(time.perf_counter() - started)
        correct.append(item.graded(answer.text))
        if answer.candidates is not None:
            passed.append(any(item.graded(c) for c in answer.candidates))
        tokens.append(answer.tokens)
        log.debug("%s budget=%d %s: %r (gold %s)", setting, budget, item.id, answer.text[-80:], item.gold)
    return {
        "benchmark": "scaling",
        "engine": setting.engine,
        **args.meta,
        "algorithm": setting.algorithm,
        "reward": setting.reward,
        "budget": budget,
        "items": len(items),
        "accuracy": round(statistics.mean(correct), 4),
        "pass_at_budget": round(statistics.mean(passed), 4) if passed else None,
        "mean_wall_s": round(statistics.mean(walls), 3),
        "tokens": round(statistics.mean(tokens), 1),
    }


def label(row: dict[str, Any]) -> str:
    return f"{row['engine']} {row['algorithm']}" + (f"/{row['reward']}" if row["reward"] else "")


def emit(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(row), flush=True)
        return
    passed = "-" if row["pass_at_budget"] is None else f"{row['pass_at_budget']:.3f}"
    print(
        f"{label(row):40} budget={row['budget']:<4} acc={row['accuracy']:.3f} pass={passed:5} "
        f"wall={row['mean_wall_s']:.2f}s tokens={row['tokens']:.0f}",
        flush=True,
    )


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    from matplotlib.figure import Figure  # no pyplot: savefig draws a PNG with the Agg canvas

    fig = Figure(figsize=(12, 4.8), layout="tight")
    acc_ax, wall_ax = fig.subplots(1, 2)
    lines: dict[str, list[dict]] = {}
    for row in rows:
        lines.setdefault(label(row), []).append(row)
    for name, group in lines.items():
        group.sort(key=lambda r: r["budget"])
        budgets = [r["budget"] for r in group]
        (line,) = acc_ax.plot(budgets, [r["accuracy"] for r in group], marker="o", label=name)
        if all(r["pass_at_budget"] is not None for r in group):
            passes = [r["pass_at_budget"] for r in group]
            acc_ax.plot(budgets, passes, linestyle="--", color=line.get_color(), alpha=0.6)
        wall_ax.plot(budgets, [r["mean_wall_s"] for r in group], marker="o", label=name)
    ticks = sorted({r["budget"] for r in rows})
    for ax, ylabel in ((acc_ax, "accuracy (dashed: pass@budget)"), (wall_ax, "mean wall s per item")):
        ax.set_xscale("log", base=2)
        ax.set(xticks=ticks, xticklabels=[str(t) for t in ticks], xlabel="budget", ylabel=ylabel)
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    acc_ax.set_ylim(-0.02, 1.02)
    wall_ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.savefig(path, dpi=120)


def csv(kind: Callable[[str], Any]) -> Callable[[str], list]:
    return lambda text: [kind(part.strip()) for part in text.split(",") if part.strip()]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--dataset", type=Path, required=True, help="JSONL: question/problem and gold/answer fields")
    algorithms = plugins.scaling_algorithms.names()
    add("--algorithm", type=csv(str), default=["self-consistency", "best-of-n"], help=", ".join(algorithms))
    add("--budgets", type=csv(int), default=[1, 2, 4, 8, 16], help="comma-separated")
    add("--reward", type=csv(str), default=["judge"], help="best-of-n's: judge, judge-score, self-certainty")
    add("--limit", type=int, default=None, help="the first N items only")
    add("--suffix", default="auto", help="appended to each question: " + SUFFIX_HELP)
    add("--max-new-tokens", type=int, default=64)
    add("--temperature", type=float, default=0.7)
    add("--seed", type=int, default=0, help="item i uses seed + i at every budget")
    add("--json", action="store_true", help="JSON lines (default: a table)")
    add("--plot", type=Path, help="PNG: accuracy and pass@budget, and wall time, against the budget")
    add("--vs-its-hub", action="store_true", help="also the engines its_hub and h2ogpt-api (see above)")
    add("--its-hub-judge", choices=["h2ogpt-judge", "llm-judge"], default="h2ogpt-judge", help=JUDGE_HELP)
    add("--base-model", default="", help="default: the embedded SmolLM2-135M-Instruct")
    add("--engine", default="auto", help="local engine: auto (llama.cpp for GGUF), llama.cpp, transformers")
    add("--data-dir", default=os.environ.get("H2OGPT_DATA_DIR"))
    add("-v", "--verbose", action="store_true", help="log every answer")
    args = parser.parse_args()
    unknown = [a for a in args.algorithm if a not in algorithms]
    if unknown:
        parser.error(f"--algorithm {','.join(unknown)}: choose from {', '.join(algorithms)}")
    return args


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeouts off" outside the main thread
    items = read_items(args.dataset, args.limit)
    args.suffix_text = suffix_for(args.suffix, items)
    data_dir = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = Settings(langchain_mode="LLM", base_model=args.base_model, engine=args.engine, **data_dir)
    pipeline = build_pipeline(settings)
    model = pipeline.backend.info.name
    args.meta = {"model": model, "backend": pipeline.backend.info.engine, "dataset": args.dataset.name}
    args.meta |= {"temperature": args.temperature}
    args.meta |= {"max_new_tokens": args.max_new_tokens, "seed": args.seed}
    runners = {"h2ogpt": in_process(pipeline, args)}
    rows = []
    with ExitStack() as stack:
        if args.vs_its_hub:
            handle = stack.enter_context(serve_in_thread(settings, pipeline, port=0))
            client = openai.OpenAI(base_url=handle.base_url, api_key="benchmark")
            served = client.models.list().data[0].id
            runners["h2ogpt-api"] = via_api(client, served, args)
            runners["its_hub"] = its_hub(handle.base_url, served, args)
        for runner in runners.values():  # warm-up: first-call costs stay out of the timings
            runner(Setting("", "self-consistency"), items[0].question, 1, args.seed)
        for budget in args.budgets:
            for engine, runner in runners.items():
                for setting in settings_for(engine, args):
                    rows.append(measure(runner, setting, items, budget, args))
                    emit(rows[-1], args.json)
    if args.plot:
        plot(rows, args.plot, f"{model} on {args.dataset.name} ({len(items)} items)")
        log.info("plot written to %s", args.plot)


if __name__ == "__main__":
    main()

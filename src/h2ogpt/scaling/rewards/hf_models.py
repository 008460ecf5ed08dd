"""Hugging Face reward models for inference-time scaling, loaded from local folders only.

``load_score_model`` gives an outcome reward model (``--score_model``: a sequence
classifier such as OpenAssistant's reward-model-deberta or a Skywork/Llama reward model)
and ``load_prm`` a process reward model (``--prm_model``, Qwen2.5-Math-PRM style: a 2-class
score at each step separator). Each folder is loaded once per process; after each call a
runner's ``last_tokens`` holds the tokens read per input, counted by the caller as usage.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence

from h2ogpt.errors import ConfigError

log = logging.getLogger(__name__)

PRM_STEP_SEPARATOR = "<extra_0>"  # the token a PRM scores each step at (Qwen2.5-Math-PRM's)
PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
MAX_BATCH = 16  # inputs per forward pass
DEFAULT_MAX_LENGTH = 4096  # when neither the tokenizer nor the config tells

_cache: dict[tuple[str, str], object] = {}
_cache_lock = threading.Lock()


def _read_config(path: str, flag: str, kind: str) -> tuple[str, dict]:
    """The folder's resolved path and config.json, or a ConfigError naming ``flag``."""
    folder = os.path.realpath(os.path.expanduser(path))
    config_file = os.path.join(folder, "config.json")
    if not os.path.isfile(config_file):
        what = "no config.json there" if os.path.isdir(folder) else "no such folder"
        raise ConfigError(f"{flag}={path}: {what}; give a local {kind} folder (downloaded beforehand)")
    with open(config_file, encoding="utf-8") as f:
        return folder, json.load(f)


def _device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "cpu", torch.float32


class _Runner:
    """A tokenizer and a model on its device, with padding and truncation set up."""

    def __init__(self, folder: str, model, tokenizer, device: str) -> None:
        self.folder, self.model, self.tokenizer, self.device = folder, model, tokenizer, device
        self.last_tokens: list[int] = []
        self._lock = threading.Lock()
        config = model.config.get_text_config()
        if tokenizer.pad_token is None:
            known = (
                None if config.pad_token_id is None else tokenizer.convert_ids_to_tokens(config.pad_token_id)
            )
            tokenizer.pad_token = known or tokenizer.eos_token or tokenizer.unk_token
        # the model finds each row's last real token by the id the tokenizer pads with
        model.config.pad_token_id = config.pad_token_id = tokenizer.pad_token_id
        # keep the end (the answer, the last steps) when an input is too long
        tokenizer.truncation_side = "left"
        limits = [tokenizer.model_max_length, getattr(config, "max_position_embeddings", None)]
        self.max_length = min([n for n in limits if n and n < 10**7] or [DEFAULT_MAX_LENGTH])
        model.to(device).eval()

    def _encode(self, texts: Sequence, pairs: Sequence[str] | None = None, special: bool = True):
        batch = self.tokenizer(
            list(texts),
            list(pairs) if pairs is not None else None,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            add_special_tokens=special,
            return_tensors="pt",
        )
        self.last_tokens += batch["attention_mask"].sum(dim=1).tolist()  # pad tokens not counted
        return batch.to(self.device)


class ScoreModelRunner(_Runner):
    """A sequence-classification reward model: one score per (question, answer)."""

    def _render(self, question: str, answer: str) -> str:
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def score(self, question: str, answers: Sequence[str]) -> list[float]:
        """Each answer's reward: the logit (one label) or the last label's probability."""
        import torch

        with self._lock, torch.inference_mode():
            self.last_tokens, scores = [], []
            for start in range(0, len(answers), MAX_BATCH):
                chunk = answers[start : start + MAX_BATCH]
                if self.tokenizer.chat_template:  # the rendered template holds the special tokens
                    batch = self._encode([self._render(question, a) for a in chunk], special=False)
                else:
                    batch = self._encode([question] * len(chunk), chunk)
                logits = self.model(**batch).logits.float()
                scores += (logits[:, 0] if logits.shape[-1] == 1 else logits.softmax(-1)[:, -1]).tolist()
            return scores


class PRMRunner(_Runner):
    """A process reward model: a probability in (0, 1) that each step is right."""

    def __init__(self, folder: str, model, tokenizer, device: str) -> None:
        super().__init__(folder, model, tokenizer, device)
        self.separator_id = tokenizer.convert_tokens_to_ids(PRM_STEP_SEPARATOR)

    def _render(self, question: str, steps: Sequence[str]) -> str:
        sep = PRM_STEP_SEPARATOR
        messages = [
            {"role": "system", "content": PRM_SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": sep.join(s.strip() for s in steps) + sep},
        ]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)

    def step_scores(self, question: str, steps_lists: Sequence[Sequence[str]]) -> list[list[float]]:
        """For each path, each step's score (a path without steps gets [])."""
        import torch

        with self._lock, torch.inference_mode():
            self.last_tokens = []
            results: list[list[float]] = [[] for _ in steps_lists]
            todo = [i for i, steps in enumerate(steps_lists) if steps]
            for start in range(0, len(todo), MAX_BATCH):
                rows = todo[start : start + MAX_BATCH]
                batch = self._encode([self._render(question, steps_lists[i]) for i in rows], special=False)
                logits = self.model(**batch)[0]
                if logits.dim() != 3 or logits.shape[-1] != 2:
                    raise ConfigError(
                        f"--prm_model={self.folder}: the model does not give 2-class per-token "
                        f"scores (output shape {tuple(logits.shape)}); give a process reward model"
                    )
                probs = logits.float().softmax(dim=-1)[..., 1]
                at_sep = batch["input_ids"] == self.separator_id
                for j, i in enumerate(rows):
                    scores = probs[j][at_sep[j]].tolist()
                    missing = len(steps_lists[i]) - len(scores)
                    if missing > 0:  # early steps cut off by truncation: repeat the first score
                        log.warning("--prm_model: %d early steps truncated away", missing)
                        scores = [scores[0] if scores else 0.5] * missing + scores
                    results[i] = scores[-len(steps_lists[i]) :]
            return results


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _load(path: str, kind: str, builder) -> object:
    with _cache_lock:
        folder = os.path.realpath(os.path.expanduser(path))
        if (kind, folder) not in _cache:
            _cache[(kind, folder)] = builder(path)
        return _cache[(kind, folder)]


def _from_pretrained(path: str, flag: str, what: str, auto, remote: bool = False, check=None):
    """The folder's model and tokenizer on the best device, or a one-line ConfigError."""
    from transformers import AutoTokenizer

    device, dtype = _device_and_dtype()
    folder = os.path.realpath(os.path.expanduser(path))
    log.info("Loading %s %s on %s", what, folder, device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=remote)
        if check is not None:
            check(tokenizer)
        model = auto.from_pretrained(folder, local_files_only=True, dtype=dtype, trust_remote_code=remote)
    except (OSError, ValueError, KeyError, ImportError) as e:
        raise ConfigError(f"{flag}={path}: cannot load it as a {what} ({_first_line(e)})") from None
    return folder, model, tokenizer, device


def _build_score_model(path: str) -> ScoreModelRunner:
    from transformers import AutoModelForSequenceClassification

    _, config = _read_config(path, "--score_model", "sequence-classification reward model")
    architectures = config.get("architectures") or []
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ConfigError(
            f"--score_model={path}: {', '.join(architectures)} is not a sequence-classification "
            "reward model; give one (e.g. OpenAssistant/reward-model-deberta-v3-large-v2)"
        )
    auto = AutoModelForSequenceClassification
    return ScoreModelRunner(*_from_pretrained(path, "--score_model", "reward model", auto))


def _build_prm(path: str) -> PRMRunner:
    from transformers import AutoModel, AutoModelForTokenClassification

    _, config = _read_config(path, "--prm_model", "process reward model")
    architectures = config.get("architectures") or []
    token_classifier = any(a.endswith("ForTokenClassification") for a in architectures)
    if not token_classifier and "AutoModel" not in config.get("auto_map", {}):
        raise ConfigError(
            f"--prm_model={path}: {', '.join(architectures) or 'this model'} is not a process reward "
            "model; give a Qwen2.5-Math-PRM style one (e.g. Qwen/Qwen2.5-Math-PRM-7B)"
        )

    def check(tokenizer) -> None:
        if not tokenizer.chat_template:
            raise ConfigError(f"--prm_model={path}: its tokenizer has no chat template; give a PRM with one")
        if tokenizer.convert_tokens_to_ids(PRM_STEP_SEPARATOR) in (None, tokenizer.unk_token_id):
            raise ConfigError(
                f"--prm_model={path}: its tokenizer has no step separator token {PRM_STEP_SEPARATOR!r}; "
                "give a Qwen2.5-Math-PRM style process reward model"
            )

    auto, remote = (AutoModelForTokenClassification, False) if token_classifier else (AutoModel, True)
    return PRMRunner(*_from_pretrained(path, "--prm_model", "process reward model", auto, remote, check))


def load_score_model(path: str) -> ScoreModelRunner:
    """The ``--score_model`` reward model in folder ``path`` (loaded once per process)."""
    return _load(path, "score", _build_score_model)  # type: ignore[return-value]


def load_prm(path: str) -> PRMRunner:
    """The ``--prm_model`` process reward model in folder ``path`` (loaded once per process)."""
    return _load(path, "prm", _build_prm)  # type: ignore[return-value]

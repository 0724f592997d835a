"""Registering training runs from Python: ``register_training_run`` and a Hugging Face
Trainer callback that registers the run when training ends.

Neither imports transformers: the callback is duck-typed (every ``on_*`` event the
Trainer calls is a no-op except ``on_train_end``), so this module costs nothing in
a process that does not train.

    from llmesh.sdk.training import LlmeshCallback
    trainer = Trainer(..., callbacks=[LlmeshCallback(name="oracle", host="windows",
                                                     datasets=["oracle_farore@sha256:…"])])
"""
from __future__ import annotations

import os
import platform
import subprocess
from typing import Any, Iterable, Mapping

from llmesh.sdk.client import MeshClient

# TrainingArguments fields worth keeping as searchable params (param.KEY).
TRAINING_ARGS = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps",
                 "num_train_epochs", "max_steps", "warmup_steps", "warmup_ratio", "weight_decay",
                 "lr_scheduler_type", "optim", "seed", "bf16", "fp16", "max_seq_length")
RENAMED = {"per_device_train_batch_size": "batch_size", "num_train_epochs": "num_epochs",
           "max_seq_length": "sequence_length"}
NOT_METRICS = {"loss", "runtime", "samples_per_second", "steps_per_second", "epoch", "step"}


def git_commit(directory: str | os.PathLike | None = None) -> str:
    """HEAD of the git checkout holding DIRECTORY (default: the current one), or ''."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory or os.getcwd(), capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def parse_dataset(text: str) -> dict:
    name, _, digest = text.partition("@")
    return {"name": name, "digest": digest}


def register_training_run(path: str | os.PathLike, host: str, name: str = "", *, client: MeshClient | None = None,
                          coordinator: str | None = None, datasets: Iterable[str] = (), parents: Iterable[str] = (),
                          code_dir: str | os.PathLike | None = None, framework: str = "", hardware: str = "",
                          duration_s: float | None = None, cost_usd: float | None = None,
                          params: Mapping[str, Any] | None = None, metrics: Mapping[str, float] | None = None,
                          **facts) -> dict:
    """Register a trainer's output dir (PATH native to HOST, under one of its agent's roots).

    The agent reads trainer_state.json, training_args.json, adapter_config.json and
    config.json; this adds what only the training process knows: the git commit of the
    training code (``code_dir``, default the current directory), datasets ("NAME[@DIGEST]"),
    parents ("NAME:VER"), framework, hardware, duration, cost, params and metrics.
    ``facts`` go through as `MeshClient.register_version` takes them (roles, tags, semver, …).
    Returns {version, created, message}."""
    request = {k: v for k, v in {
        "datasets": [parse_dataset(d) for d in datasets], "parents": list(parents),
        "code_commit": facts.pop("code_commit", "") or git_commit(code_dir), "framework": framework,
        "hardware": hardware, "duration_s": duration_s, "cost_usd": cost_usd, "params": dict(params or {}),
        "metrics": dict(metrics or {}), **facts}.items() if v not in (None, "", [], {})}
    own = client is None
    client = client or MeshClient.connect(coordinator)
    try:
        return client.register_version(os.fspath(path), host, name=name, **request)
    finally:
        if own:
            client.close()


class LlmeshCallback:
    """A transformers TrainerCallback, duck-typed: registers the run at the end of training.

    With ``save=True`` (default) it first saves the final model (and tokenizer) and the
    trainer state into ``args.output_dir``, so the registered weights are the trained ones.
    Only the main process registers. Errors are raised unless ``raise_errors=False``.
    """

    def __init__(self, name: str, host: str, *, coordinator: str | None = None, client: MeshClient | None = None,
                 datasets: Iterable[str] = (), parents: Iterable[str] = (), save: bool = True,
                 raise_errors: bool = True, **facts):
        self.name, self.host = name, host
        self.coordinator, self.client = coordinator, client
        self.datasets, self.parents = list(datasets), list(parents)
        self.save, self.raise_errors = save, raise_errors
        self.facts = facts
        self.result: dict | None = None
        self.error: Exception | None = None

    def __getattr__(self, name: str):
        if name.startswith("on_"):  # every other Trainer event: nothing to do
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_train_end(self, args, state, control, **kwargs):
        if not getattr(state, "is_world_process_zero", True):
            return None
        output_dir = os.fspath(getattr(args, "output_dir"))
        try:
            if self.save:
                self._save(output_dir, state, kwargs)
            self.result = register_training_run(
                output_dir, self.host, self.name, client=self.client, coordinator=self.coordinator,
                datasets=self.datasets, parents=self.parents, **self._from_trainer(args, state))
        except Exception as exc:
            self.error = exc
            if self.raise_errors:
                raise
        return None

    def _save(self, output_dir: str, state, kwargs) -> None:
        os.makedirs(output_dir, exist_ok=True)
        model = kwargs.get("model")
        if hasattr(model, "save_pretrained"):
            model.save_pretrained(output_dir)
        tokenizer = kwargs.get("processing_class") or kwargs.get("tokenizer")
        if hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(output_dir)
        if hasattr(state, "save_to_json"):
            state.save_to_json(os.path.join(output_dir, "trainer_state.json"))

    def _from_trainer(self, args, state) -> dict:
        facts = dict(self.facts)
        params = {RENAMED.get(k, k): getattr(args, k) for k in TRAINING_ARGS
                  if isinstance(getattr(args, k, None), (int, float, str, bool))}
        params.update(facts.pop("params", None) or {})
        metrics: dict[str, float] = {}
        runtime = None
        for entry in getattr(state, "log_history", None) or []:
            for key, value in entry.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                if key == "train_runtime":
                    runtime = float(value)
                elif key.startswith("eval_") and key[5:] not in NOT_METRICS:
                    metrics[key[5:]] = float(value)
        metrics.update(facts.pop("metrics", None) or {})
        facts.setdefault("framework", "huggingface")
        facts.setdefault("hardware", _hardware())
        if runtime is not None:
            facts.setdefault("duration_s", runtime)
        return {**facts, "params": params, "metrics": metrics}


def _hardware() -> str:
    return f"{platform.node()} ({platform.machine()})"

"""Older checkpoint formats brought forward, one version at a time, as they are read: each
function turns the raw dict of version N into that of N + 1 (checkpoint.py reads the result)."""

from __future__ import annotations

from typing import Any

from charrnn.errors import CheckpointError


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a file of any older format version up to VERSION."""
    if raw.get("format_version") == 1:
        raw = _from_version_1(raw)
    if raw.get("format_version") == 2:
        raw = _from_version_2(raw)
    if raw.get("format_version") == 3:
        raw = _from_version_3(raw)
    if raw.get("format_version") == 4:
        raw = _from_version_4(raw)
    if raw.get("format_version") == 5:
        raw = _from_version_5(raw)
    if raw.get("format_version") == 6:
        # Version 7 added fields that default to what version 6 meant: plans whose decay is their
        # own (decay_from), no replay (replaying), the run's own choice of network (sizing).
        raw = {**raw, "format_version": 7}
    return raw


def _from_version_5(old: dict[str, Any]) -> dict[str, Any]:
    """Version 5 called a validation's side-by-side segments "streams" (`val_streams` in the
    configuration and in each validation record) and the completed epochs `progress.epoch`."""
    training = old.get("training")
    if training is not None:
        config = {
            ("val_segments" if k == "val_streams" else k): v
            for k, v in (training.get("config") or {}).items()
        }
        history = [
            {("val_segments" if k == "val_streams" else k): v for k, v in dict(record).items()}
            for record in training.get("history") or []
        ]
        progress = {
            ("epochs_done" if k == "epoch" else k): v for k, v in (training.get("progress") or {}).items()
        }
        training = {**training, "config": config, "history": history, "progress": progress}
    return {**old, "format_version": 6, "training": training}


def _from_version_4(old: dict[str, Any]) -> dict[str, Any]:
    """Version 4 (charrnn 0.3.0) trained on one file: its corpus record was that file's."""
    corpus = old.get("corpus")
    if corpus is not None:
        file = {k: corpus[k] for k in ("path", "size", "sha256")}
        sizes = {k: corpus[k] for k in ("num_chars", "val_frac")}
        corpus = {"sources": [corpus["path"]], "files": [file], **sizes}
    return {**old, "format_version": 5, "corpus": corpus}


def _from_version_3(old: dict[str, Any]) -> dict[str, Any]:
    """Version 3 (charrnn 0.2.0) kept one plan, settled once: it becomes the only plan. Its
    schedule decayed from the end of warm-up: decay_frac 1, so that a resumed run keeps it."""
    training = old.get("training")
    if training is not None:
        plan = training.get("plan")
        plans = [] if plan is None else [plan]
        config = {"decay_frac": 1.0, **(training.get("config") or {})}
        training = {
            **{k: v for k, v in training.items() if k not in ("plan", "config")},
            "plans": plans,
            "config": config,
        }
    return {**old, "format_version": 4, "training": training}


def _from_version_2(old: dict[str, Any]) -> dict[str, Any]:
    """Version 2 (charrnn 0.1.0) had no validation cadence in its plan: it validated every
    --eval-every steps of its configuration, which was always a number then."""
    training = old.get("training")
    if training and training.get("plan"):
        eval_every = (training.get("config") or {}).get("eval_every")
        training = {**training, "plan": {**training["plan"], "eval_every": eval_every}}
    return {**old, "format_version": 3, "training": training}


def _from_version_1(old: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (charrnn up to 0.1.0) kept every field at the top level under other names; its
    history held the validation records with an "event" key."""
    missing = [k for k in ("model_config", "vocab", "model_state") if k not in old]
    if missing:
        raise CheckpointError(f"is incomplete: missing {', '.join(missing)}")
    training = None
    if "train_config" in old:
        history = [{k: v for k, v in r.items() if k != "event"} for r in old.get("history") or []]
        training = {
            "config": old["train_config"],
            "precision": old.get("precision", "fp32"),
            "progress": old["progress"],
            "plan": old.get("plan"),
            "optimizer": old["optimizer_state"],
            "carried_state": old.get("carried_state") or [],
            "rng": old["rng"],
            "history": history,
        }
    return {
        "format": old["format"],  # checked by the reader before any migration
        "format_version": 2,
        "written_by": old.get("charrnn_version", "unknown"),
        "model": old["model_config"],
        "vocabulary": old["vocab"],
        "weights": old["model_state"],
        "corpus": old.get("corpus"),
        "training": training,
    }

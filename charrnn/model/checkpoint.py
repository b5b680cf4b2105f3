"""The checkpoint file: one versioned, typed schema, and the only code that reads or writes it.

A checkpoint is a torch.save file of a dict of tensors and plain values, written atomically
(a temporary file beside it, fsynced, then os.replace) and read with weights_only=True, so that
loading one cannot run code. Every other module sees `Checkpoint`; the dict's keys appear
nowhere else. Older format versions are migrated forward as they are read; newer and foreign
files are refused with one clear line.

    Checkpoint (format version 7)
    ├─ model: ModelConfig, vocabulary, weights     rebuild the network alone (build_model)
    ├─ written_by                                  the charrnn version that wrote it
    ├─ corpus: CorpusRecord                        the paths given, each file's path, size and
    │                                              sha256, characters, val fraction
    └─ training: TrainingRecord                    what `train --resume` needs to go on exactly:
       config (TrainConfig's fields), precision, progress, plans (every plan the run has
       settled, the current one last; a replay's plans still to come), optimizer state,
       carried state, random-number state, and the validations so far (history)

The records' types are in records.py, older formats' migrations in migrations.py; which file a
user means (a run directory's best.pt, …) is paths.py's. An exported safetensors directory is
read here too (safetensors_file.py).
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from charrnn.data.vocab import Vocabulary
from charrnn.errors import CharRNNError, CheckpointError
from charrnn.files import atomic_write, require_file
from charrnn.model.config import ModelConfig, known_fields
from charrnn.model.migrations import migrate
from charrnn.model.network import CharRNN
from charrnn.model.records import CorpusRecord, Progress, Sizing, StepPlan, TrainingRecord, Validation
from charrnn.model.safetensors_file import read_exported

FORMAT = "charrnn-checkpoint"
VERSION = 7


@dataclass(frozen=True)
class Checkpoint:
    model_config: ModelConfig  # the file's "model"
    vocabulary: Vocabulary
    weights: dict[str, torch.Tensor]
    written_by: str
    corpus: CorpusRecord | None = None
    training: TrainingRecord | None = field(default=None, repr=False)
    format_version: int = VERSION  # the version the file was written in (older ones are migrated)

    def build_model(self, device: torch.device | str = "cpu") -> CharRNN:
        """The network this checkpoint describes, with its weights; mismatches are CheckpointErrors."""
        try:
            said = self.model_config.vocab_size
            if self.vocabulary.size != said:
                raise ValueError(f"vocabulary of {self.vocabulary.size} characters, config says {said}")
            model = CharRNN(self.model_config)
            model.load_state_dict(self.weights, strict=True)
        except Exception as e:  # any inconsistency inside the file means the file is bad
            raise CheckpointError(f"is inconsistent: {_first_line(e)}") from None
        return model.to(device)

    def save(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f: torch.save(self._to_raw(), f))
        except (OSError, RuntimeError) as e:  # torch.save reports a failed write as RuntimeError
            reason = getattr(e, "strerror", None) or _first_line(e)
            raise CheckpointError(f"could not write checkpoint {path}: {reason}") from None

    @classmethod
    def load(cls, path: Path, device: torch.device | str = "cpu") -> Checkpoint:
        raw = _read(path, device)
        try:
            return replace(cls._from_raw(migrate(raw)), format_version=raw["format_version"])
        except CheckpointError as e:  # "is incomplete: …", "has unknown fields …"
            raise CheckpointError(f"{path} {e}") from None
        except (CharRNNError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{path} is inconsistent: {_first_line(e)}") from None

    # -- the dict in the file (version 3) -----------------------------------------------------
    def _to_raw(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "format": FORMAT,
            "format_version": VERSION,
            "written_by": self.written_by,
            "model": self.model_config.to_dict(),
            "vocabulary": self.vocabulary.chars,
            "weights": self.weights,
            "corpus": None,
            "training": None,
        }
        if self.corpus is not None:
            raw["corpus"] = self.corpus.to_dict()
        if self.training is not None:
            t = self.training
            raw["training"] = {
                "config": dict(t.config),
                "precision": t.precision,
                "progress": asdict(t.progress),
                "plans": [asdict(plan) for plan in t.plans],
                "optimizer": t.optimizer,
                "carried_state": [s.float() for s in t.carried_state],
                "rng": t.rng,
                "history": [asdict(v) for v in t.history],
                "replaying": [asdict(plan) for plan in t.replaying],
                "sizing": None if t.sizing is None else t.sizing.to_dict(),
            }
        return raw

    @classmethod
    def _from_raw(cls, raw: dict[str, Any]) -> Checkpoint:
        missing = [k for k in ("model", "vocabulary", "weights") if raw.get(k) is None]
        if missing:
            raise CheckpointError(f"is incomplete: missing {', '.join(missing)}")
        corpus = raw.get("corpus")
        training = raw.get("training")
        return cls(
            model_config=ModelConfig.from_dict(dict(raw["model"])),
            vocabulary=Vocabulary(str(raw["vocabulary"])),
            weights=dict(raw["weights"]),
            written_by=str(raw.get("written_by", "unknown")),
            corpus=None if corpus is None else CorpusRecord.from_dict(dict(corpus)),
            training=None if training is None else _training_from_raw(training),
        )


def _training_from_raw(t: dict[str, Any]) -> TrainingRecord:
    return TrainingRecord(
        config=dict(t["config"]),
        precision=str(t["precision"]),
        progress=Progress(**known_fields(Progress, dict(t["progress"]), "progress")),
        plans=_plans(t["plans"]),
        optimizer=dict(t["optimizer"]),
        carried_state=tuple(t.get("carried_state") or ()),
        rng=dict(t["rng"]),
        history=tuple(
            Validation(**known_fields(Validation, dict(v), "history")) for v in t.get("history") or ()
        ),
        replaying=_plans(t.get("replaying") or ()),
        sizing=None if t.get("sizing") is None else Sizing.from_dict(dict(t["sizing"])),
    )


def _plans(raw: Any) -> tuple[StepPlan, ...]:
    return tuple(StepPlan(**known_fields(StepPlan, dict(plan), "plan")) for plan in raw)


# -- the file --------------------------------------------------------------------------------
def _read(path: Path, device: torch.device | str) -> dict[str, Any]:
    """The file's dict, loaded safely (no code can run), with its format and version checked."""
    require_file(path, "checkpoint", CheckpointError)
    if path.suffix == ".safetensors":
        return read_exported(path, device, FORMAT, VERSION)
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles; the refusal says enough
            warnings.simplefilter("ignore")
            raw = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:
        code = re.search(r"GLOBAL ([\w.]+)", str(e))
        if code is None:  # not a pickle of plain data at all
            raise CheckpointError(f"{path} is not a readable checkpoint (not a PyTorch file)") from None
        raise CheckpointError(
            f"refusing to load {path}: it asks for the Python object {code.group(1)}, beyond plain "
            "data (loading it could run arbitrary code)"
        ) from None
    except Exception as e:  # zip, EOF, key and OS errors all mean: unreadable
        raise CheckpointError(f"{path} is not a readable checkpoint ({_first_line(e)})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a charrnn checkpoint")
    version = raw.get("format_version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}; this charrnn reads up to {VERSION}: "
            "upgrade charrnn"
        )
    return raw


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint and the network it rebuilds, on a device."""

    network: CharRNN
    checkpoint: Checkpoint

    @property
    def vocab(self) -> Vocabulary:
        return self.checkpoint.vocabulary


def load_model(path: Path, device: torch.device | str = "cpu") -> LoadedModel:
    checkpoint = Checkpoint.load(path, device)
    try:
        return LoadedModel(checkpoint.build_model(device), checkpoint)
    except CheckpointError as e:
        raise CheckpointError(f"{path} {e}") from None

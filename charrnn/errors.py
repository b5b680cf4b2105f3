"""The package's exception types. The CLI turns any CharRNNError into one red line and exit 1."""


class CharRNNError(Exception):
    """Base class: an error the user can cause and fix (bad input, bad flag, bad file)."""


class ConfigError(CharRNNError):
    """An option value out of its allowed range."""


class CorpusError(CharRNNError):
    """A corpus that cannot be read or used (missing, empty, not UTF-8, too short)."""


class VocabularyError(CharRNNError):
    """Text holding characters that the model's vocabulary does not know."""


class CheckpointError(CharRNNError):
    """A checkpoint that is missing, corrupt, unsafe, foreign or of an unknown format."""


class TrainingDiverged(CharRNNError):
    """The training loss became NaN or infinite."""


class MissingDependency(CharRNNError):
    """An optional part of charrnn whose packages are not installed (an extra: `charrnn[serve]`)."""

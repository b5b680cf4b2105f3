"""charrnn: character-level recurrent language models — train, sample, measure."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("charrnn")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

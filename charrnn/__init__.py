"""charrnn: character-level recurrent language models — train, sample, measure."""

# The one place the version is written: pyproject.toml reads it from here (a literal is read
# without importing the package metadata, which `charrnn --version` would otherwise wait for).
__version__ = "0.2.0"

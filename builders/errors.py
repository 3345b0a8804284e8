"""Errors the CLI turns into one clear message and a non-zero exit.

Anything that is not a ``BuildError`` is a bug and keeps its traceback.
"""


class BuildError(Exception):
    """An expected failure whose message tells the user how to fix it."""


class RecipeError(BuildError):
    """A recipe names something that does not exist or is inconsistent."""


class SourcePinError(BuildError):
    """A pinned source is missing, unreachable or fails its checksum."""


class PublishError(BuildError):
    """Publishing to the Hub failed or was refused."""


class DatasetError(BuildError):
    """A dataset folder, Hub repo or user file cannot be read as asked."""


class EvaluateError(BuildError):
    """An evaluation cannot run or cannot be reported as asked."""


class MixError(BuildError):
    """A fine-tuning mix cannot be made as asked."""


class LLMError(BuildError):
    """The model server cannot be used as configured (no model, no key, no endpoint)."""

"""Build, check and publish the multitask LLM safety dataset."""

from .recipe import load_recipe
from .schema import ROW_SCHEMA


def build(*args, **kwargs):
    """See ``builders.pipeline.build``; imported lazily to keep ``import builders`` light."""
    from .pipeline import build as _build

    return _build(*args, **kwargs)


__all__ = ["ROW_SCHEMA", "build", "load_recipe"]

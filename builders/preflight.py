"""Checks made before a build starts, so that a bad folder fails in a second, not after the build."""

from __future__ import annotations

import os
from pathlib import Path

from . import outdir
from .recipe import Recipe
from .resources import data_dir
from .sources import default_cache_dir, load_registry


def check_build(recipe: Recipe, out: Path, *, sources_dir: Path | None, cache_dir: Path | None,
                overrides: dict[str, Path], specs: tuple[str, ...]) -> None:
    """The output folder may be replaced, the cache can take what must be fetched, and every
    evaluation set reads (they are small; reading them twice is cheaper than a late failure)."""
    from .decontaminate import read_eval_texts, split_spec

    try:  # first, so that a previous build moved aside by a killed run is back even if a check fails
        outdir.clean_stale(Path(out).resolve())
    except OSError:
        pass  # a folder we cannot clean is one we cannot write either: check_out says so
    sources_dir = sources_dir or (Path(os.environ["MTS_SOURCES"]) if os.environ.get("MTS_SOURCES") else None)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    inputs = [("the cache folder", cache)]
    if sources_dir:
        inputs.append(("--sources", Path(sources_dir)))
    if os.environ.get("MTS_DATA_DIR"):
        inputs.append(("MTS_DATA_DIR", data_dir()))
    inputs += [(f"--source {name}=", path) for name, path in overrides.items()]
    inputs += [("--decontaminate", split_spec(spec)[0]) for spec in specs]
    outdir.check_out(out, inputs)
    _check_cache(cache, recipe, sources_dir, overrides)
    for spec in specs:
        read_eval_texts(spec)


def _check_cache(cache: Path, recipe: Recipe, sources_dir: Path | None, overrides: dict[str, Path]) -> None:
    """A cache that already holds every file may be read-only; one that must take a download may not."""
    what = f"the cache folder {cache} (--cache-dir or MTS_CACHE_DIR)"
    fix = "Pass --cache-dir DIR (or set MTS_CACHE_DIR) with a folder you can write to."
    if cache.exists() and not cache.is_dir():
        outdir.check_writable(cache, what, fix)  # reports the file standing in the way
    registry = load_registry()
    names = [*recipe.harmful_sources, *recipe.benign_sources]
    if recipe.include_upstream and recipe.upstream_source:
        names.append(recipe.upstream_source)
    to_fetch = [
        f"{name}/{pinned.name}"
        for name in names if name in registry and name not in overrides
        for pinned in registry[name].files
        if not (sources_dir and (Path(sources_dir) / name / pinned.name).is_file())
        and not (cache / name / pinned.name).is_file()
    ]
    if to_fetch:
        outdir.check_writable(cache, f"{what}, which must take {outdir.some(to_fetch)}", fix)

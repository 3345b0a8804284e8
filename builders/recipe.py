"""Version recipes: what goes into each dataset version, as data.

``data/recipes/<version>.toml`` names the sources, task forms, responder,
split ratios and dedup parameters.  Loading checks them once so that stages
can trust what they are given.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RecipeError
from .resources import data_dir
from .schema import SPLITS, TASKS
from .synthesize.settings import LLMSettings, parse_llm_settings


@dataclass(frozen=True)
class SplitConfig:
    ratios: dict[str, float]  # split name -> fraction of rows
    # split name -> templates reserved for it: a count per form (drawn by hash) or a list of template ids
    heldout_templates: dict[str, int | tuple[str, ...]]


@dataclass(frozen=True)
class BalanceConfig:
    """How benign and harmful rows share the templates (checked, or the build fails)."""

    # At most this many benign rows per harmful row of a template; the rest are
    # trimmed, so that no template is mostly benign while another is mostly harmful.
    max_benign_per_harmful: float | None = None
    # The same per task form, where a form's benign supply differs (code has far fewer
    # harmful rows than benign tasks, since code is a natural ask for few requests).
    max_benign_per_harmful_by_form: dict = field(default_factory=dict)
    # Rows of a template that carries no harmful rows at all (the paper's "from French to
    # English" form without --translate-seeds): at most this many, since such a template
    # gives its label away.
    max_rows_without_harmful: int | None = None
    # Every template with harmful rows in a split carries at least this share of benign rows there.
    min_benign_share: float = 0.0
    # How well the template alone predicts the label, per form (0.5 = not at all).
    max_wrapper_auc: float = 1.0
    # Harmful and benign rows per form within this ratio, either way.
    max_label_ratio: float | None = None
    vader_per_cell: int | None = None  # VADER sentences per (sub-corpus, sentiment)


@dataclass(frozen=True)
class DedupConfig:
    shingle: str = "char"
    ngram: int = 5
    num_perm: int = 128
    threshold: float = 0.8
    # LSH banding.  Left out, it is chosen by minimizing fp_weight * false positives +
    # fn_weight * false negatives around the threshold.
    bands: int | None = None
    rows: int | None = None
    fp_weight: float = 0.5
    fn_weight: float = 0.5
    seed: int = 1
    verify: bool = True
    # Which copy of a duplicate survives: lowest rank in this source order, then lowest id.
    priority: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    version: str
    pretty_name: str
    summary: str
    seed: int
    harmful_sources: tuple[str, ...]
    benign_sources: tuple[str, ...]
    written_benign: bool
    upstream_source: str | None  # the authors' release, labeled and cleaned
    include_upstream: bool  # v1 is the release itself; v2 adds it with --include-upstream
    forms: tuple[str, ...]
    responder: str
    split: SplitConfig
    dedup: DedupConfig
    decontaminate: tuple[str, ...] = field(default_factory=tuple)
    # Pinned evaluation sets (e.g. HumanEval) that no row may copy; they are never training rows.
    decontaminate_sources: tuple[str, ...] = field(default_factory=tuple)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    notes: str = ""  # markdown for the card: what this version changes, known limits
    llm: LLMSettings | None = None  # [llm]: system prompts and generation settings for model-written rows
    sha256: str = ""
    path: Path | None = None

    def with_options(self, **changes) -> "Recipe":
        fields = {**self.__dict__, **changes}
        return Recipe(**fields)


# A version becomes a git tag on the Hub, so it must be a valid tag name that cannot be
# mistaken for anything else a revision can name: a branch, HEAD, or a commit id.
_TAG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RESERVED_REVISIONS = {"main", "head", "refs"}


def version_problem(version: object) -> str | None:
    """Why ``version`` cannot name a dataset version, or None if it can."""
    if not isinstance(version, str) or not _TAG_NAME.fullmatch(version):
        return ("a version must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
                f"digit, such as 'v2'; got {version!r}")
    if version.lower() in _RESERVED_REVISIONS:
        return f"'{version}' names a branch or a ref on the Hub, not a version; use a name such as 'v2'"
    if re.fullmatch(r"[0-9a-f]{40}", version):
        return f"'{version}' looks like a commit id; use a name such as 'v2'"
    if ".." in version or version.endswith((".", ".lock")):
        return f"'{version}' is not a valid git tag name ('..', or a trailing '.' or '.lock'); use a name such as 'v2'"
    return None


def recipes_dir() -> Path:
    return data_dir() / "recipes"


def known_versions() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.toml"))


def load_recipe(version: str) -> Recipe:
    path = recipes_dir() / f"{version}.toml"
    if not path.is_file():
        raise RecipeError(f"unknown dataset version '{version}'; known versions: {', '.join(known_versions())}")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    return _parse(raw, path, hashlib.sha256(text.encode("utf-8")).hexdigest())


def _parse(raw: dict, path: Path, sha256: str) -> Recipe:
    try:
        split = raw.get("split", {})
        ratios = {name: float(split.get(name, 0.0)) for name in SPLITS}
        heldout = {name: n if isinstance(n, int) else tuple(n)
                   for name, n in split.get("heldout_templates", {}).items()}
        dedup = raw.get("dedup", {})
        recipe = Recipe(
            version=raw["version"],
            pretty_name=raw["pretty_name"],
            summary=raw["summary"],
            seed=int(raw["seed"]),
            harmful_sources=tuple(raw.get("harmful_sources", ())),
            benign_sources=tuple(raw.get("benign_sources", ())),
            written_benign=bool(raw.get("written_benign", False)),
            upstream_source=raw.get("upstream_source"),
            include_upstream=bool(raw.get("include_upstream", False)),
            forms=tuple(raw.get("forms", ())),
            responder=raw.get("responder", "template"),
            split=SplitConfig(ratios=ratios, heldout_templates=heldout),
            dedup=DedupConfig(**{**dedup, "priority": tuple(dedup.get("priority", ()))}),
            decontaminate=tuple(raw.get("decontaminate", ())),
            decontaminate_sources=tuple(raw.get("decontaminate_sources", ())),
            balance=BalanceConfig(**raw.get("balance", {})),
            notes=raw.get("notes", ""),
            llm=parse_llm_settings(raw.get("llm"), path),
            sha256=sha256,
            path=path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecipeError(f"{path}: missing or invalid field: {exc}") from None
    _validate(recipe)
    return recipe


def _validate(recipe: Recipe) -> None:
    where = recipe.path
    problem = version_problem(recipe.version)
    if problem:
        raise RecipeError(f"{where}: {problem}. Rename the recipe file and its 'version' field.")
    if recipe.path is not None and recipe.version != recipe.path.stem:
        raise RecipeError(f"{where}: version '{recipe.version}' differs from the file name")
    unknown = sorted(set(recipe.forms) - set(TASKS))
    if unknown:
        raise RecipeError(f"{where}: unknown task forms {unknown}; known: {list(TASKS)}")
    total = sum(recipe.split.ratios.values())
    if abs(total - 1.0) > 1e-9 or any(r < 0 for r in recipe.split.ratios.values()):
        raise RecipeError(f"{where}: split ratios must be non-negative and sum to 1, got {recipe.split.ratios}")
    if not (0.0 < recipe.dedup.threshold < 1.0):
        raise RecipeError(f"{where}: dedup threshold must lie in (0, 1)")
    if recipe.include_upstream and not recipe.upstream_source:
        raise RecipeError(f"{where}: include_upstream needs upstream_source")

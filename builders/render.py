"""Render harmful seeds as prompts in the five task forms.

Every form has a pool of prompt templates in ``data/templates/forms.toml``.
Each seed gets one template per form, chosen by hashing the recipe seed, the
form, the seed id and the template id, so a build is reproducible and a row's
template never depends on which other seeds are in the batch or their order.

Template ids are versioned (``translation/fr_then_do@v1``) and each carries a
digest of its text: changed wording must come as a new id, so that a released
row's ``template_id`` always names the exact words it was rendered from.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .errors import RecipeError
from .resources import data_dir
from .schema import SEED_SCHEMA, SPLITS, stable_int

NAME = "render"

# The known task forms, in the order rows are emitted; templates live in data/.
FORMS: dict[str, str] = {
    "direct": "the request itself, plainly or with a little context",
    "summarization": "summarize the steps to do it, or a post asking for it",
    "translation": "translate the request, or translate it and then carry it out",
    "classification": "pick, rank or label fixed, non-actionable options about the request",
    "code": "write a function or script for it, or fix code meant to do it",
}

PLACEHOLDER = "{request}"
FORMS_FILE = "forms.toml"
KINDS = ("instruction", "question", "statement", "disclosure")
RENDER_SCHEMA = pl.Schema({**SEED_SCHEMA, "task": pl.String, "template_id": pl.String, "prompt": pl.String})

_ID = re.compile(r"^(?P<form>[a-z]+)/(?P<name>[a-z0-9_]+)@v(?P<version>[1-9][0-9]*)$")
_REQUIRED = {"id", "kind", "text", "digest", "takes", "compose"}
_FIELDS = _REQUIRED | {"options", "lead", "plan_lead", "language", "target", "source_language", "code_language"}


def digest(text: str) -> str:
    """The fingerprint a template records of its own text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Template:
    id: str
    form: str
    kind: str  # what the prompt asks for ("translate", "fix", ...); refusals fit it
    text: str
    options: tuple[str, ...] = ()  # fixed choices shown in the prompt (classification)
    takes: tuple[str, ...] = KINDS  # which kinds of request it wraps naturally
    compose: str = "answer"  # how a benign answer is laid out for it (compose.py)
    lead: str = ""  # the option a benign answer picks, as shown in the prompt; or its opening line
    language: str = "en"  # the language of the instruction itself
    target: str = ""  # translation: the language asked for
    code_language: str = ""  # code: the language of the solution
    plan_lead: str = ""  # the option a benign request to plan something picks instead of ``lead``
    source_language: str = ""  # translation into English: the language of the text the prompt holds

    def fill(self, request: str) -> str:
        # str.replace, not str.format: requests may contain braces.
        return self.text.replace(PLACEHOLDER, request)


@dataclass(frozen=True)
class Form:
    name: str
    description: str
    templates: tuple[Template, ...]

    def pick(self, seed_id: str, seed: int, among: Sequence[Template] | None = None) -> Template:
        """The template for one seed.  Rendezvous hashing: every template scores
        the seed and the highest wins, so adding or retiring a template moves only
        the seeds that template wins or held."""
        pool = self.templates if among is None else among
        return max(pool, key=lambda t: stable_int(seed, self.name, seed_id, t.id))

    def reserved(self, heldout: Mapping[str, int | Sequence[str]], seed: int) -> dict[str, tuple[Template, ...]]:
        """Split the pool by split: ``heldout`` names, per split, the templates
        (or how many, drawn by hash) that only validation or test rows may use;
        train keeps the rest."""
        unknown = sorted(set(heldout) - set(SPLITS[1:]))
        if unknown:
            raise RecipeError(f"held-out templates are for validation/test only, not {unknown}")
        by_id = {t.id: t for t in self.templates}
        ranked = sorted(self.templates, key=lambda t: (stable_int("heldout", seed, self.name, t.id), t.id))
        pools: dict[str, tuple[Template, ...]] = {}
        taken: set[str] = set()
        for split in SPLITS[1:]:  # validation, test
            spec = heldout.get(split, 0)
            if isinstance(spec, int):
                if spec < 0:
                    raise RecipeError(f"held-out template count for {split} must not be negative")
                chosen = [t for t in ranked if t.id not in taken][:spec]
            else:
                mine = [name for name in spec if name.startswith(f"{self.name}/")]
                missing = [name for name in mine if name not in by_id]
                if missing:
                    raise RecipeError(f"held-out templates {missing} are not templates of form '{self.name}'")
                chosen = [by_id[name] for name in mine]
            pools[split] = tuple(chosen)
            taken |= {t.id for t in chosen}
        pools["train"] = tuple(t for t in self.templates if t.id not in taken)
        if not pools["train"]:
            raise RecipeError(f"form '{self.name}' has {len(self.templates)} templates; cannot hold out "
                              f"{dict(heldout)} and keep some for train")
        return pools


def templates_dir(library: str | Path | None = None) -> Path:
    return Path(library) if library is not None else data_dir() / "templates"


def load_forms(library: str | Path | None = None) -> dict[str, Form]:
    """All forms with their templates, checked; ``library`` is a templates folder."""
    path = templates_dir(library) / FORMS_FILE
    if not path.is_file():
        raise RecipeError(f"no prompt templates at {path}")
    return _load_forms(path, path.stat().st_mtime_ns)


def list_forms(library: str | Path | None = None) -> list[Form]:
    """The registry for ``--list-forms``: every form, its description and templates."""
    return list(load_forms(library).values())


@functools.lru_cache(maxsize=8)
def _load_forms(path: Path, _mtime: int) -> dict[str, Form]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    extra = sorted(set(raw) - set(FORMS))
    if extra:
        raise RecipeError(f"{path}: unknown task forms {extra}; known forms: {', '.join(FORMS)}")
    seen: set[str] = set()
    forms = {}
    for name, description in FORMS.items():
        entries = raw.get(name) or []
        if not entries:
            raise RecipeError(f"{path}: form '{name}' has no templates")
        templates = tuple(_template(entry, name, path) for entry in entries)
        for template in templates:
            if template.id in seen:
                raise RecipeError(f"{path}: template id '{template.id}' is used twice")
            seen.add(template.id)
        forms[name] = Form(name, description, templates)
    return forms


def _template(entry: dict, form: str, path: Path) -> Template:
    where = f"{path}: template {entry.get('id', '?')!r}"
    unknown = sorted(set(entry) - _FIELDS)
    missing = sorted(_REQUIRED - set(entry))
    if unknown or missing:
        raise RecipeError(f"{where}: unknown fields {unknown}, missing fields {missing}")
    match = _ID.match(entry["id"])
    if not match or match["form"] != form:
        raise RecipeError(f"{where}: ids look like '{form}/<name>@v<n>'")
    text = entry["text"]
    if text.count(PLACEHOLDER) != 1:
        raise RecipeError(f"{where}: text must contain {PLACEHOLDER} exactly once")
    if entry["digest"] != digest(text):
        raise RecipeError(
            f"{where}: text does not match its digest {entry['digest']} (now {digest(text)}); "
            f"released wording is frozen, so add the new text as '{form}/{match['name']}@v{int(match['version']) + 1}'"
        )
    options = tuple(entry.get("options", ()))
    absent = [option for option in options if option not in text]
    if absent:
        raise RecipeError(f"{where}: options {absent} do not appear in the text")
    takes = tuple(entry["takes"])
    if not takes or set(takes) - set(KINDS):
        raise RecipeError(f"{where}: takes must list kinds among {KINDS}, got {list(takes)}")
    lead = entry.get("lead", "")
    if lead and options and lead.rstrip(".").split(") ", 1)[-1].split(". ", 1)[-1] not in options:
        raise RecipeError(f"{where}: lead {lead!r} does not name one of the options")
    return Template(entry["id"], form, entry["kind"], text, options, takes, entry["compose"], lead,
                    entry.get("language", "en"), entry.get("target", ""), entry.get("code_language", ""),
                    entry.get("plan_lead", ""), entry.get("source_language", ""))


def _resolve(forms: Sequence[str], library: str | Path | None) -> list[Form]:
    if isinstance(forms, str):
        forms = [forms]
    unknown = [name for name in forms if name not in FORMS]
    if unknown:
        raise RecipeError(f"unknown task forms {unknown}; known forms: {', '.join(FORMS)}")
    repeated = sorted({name for name in forms if list(forms).count(name) > 1})
    if repeated:
        raise RecipeError(f"task forms listed more than once: {repeated}")
    registry = load_forms(library)
    return [registry[name] for name in FORMS if name in forms]


Eligible = Callable[[Template, dict], bool]
RequestText = Callable[[Template, dict], str]


def render(
    seeds: pl.DataFrame,
    forms: Sequence[str],
    seed: int,
    *,
    library: str | Path | None = None,
    heldout: Mapping[str, int | Sequence[str]] | None = None,
    eligible: Eligible | None = None,
    request_text: RequestText | None = None,
) -> pl.DataFrame:
    """One row per (seed, form) that has a fitting template: the seed's columns
    plus ``task``, ``template_id`` and ``prompt``, sorted by seed id and form.

    ``eligible(template, seed_row)`` says whether a template fits a seed (its
    kind, whether code is a natural ask, whether a benign answer can be laid
    out for it); a seed with no fitting template in a form is not rendered in
    that form.  ``request_text(template, seed_row)`` gives the text a template
    wraps (default: the seed's request; a translation into English wraps the
    request's translation).  With ``heldout`` (split -> templates per form), ``seeds`` needs
    a ``split`` column: validation and test rows use only templates reserved
    for their split, train rows only the others, and the output keeps ``split``.
    Extra columns of ``seeds`` are kept.
    """
    chosen = _resolve(forms, library)
    required = list(SEED_SCHEMA) + (["split"] if heldout is not None else [])
    missing = [c for c in required if c not in seeds.columns]
    if missing:
        raise ValueError(f"seeds lack columns {missing}")
    seeds = seeds.cast({name: dtype for name, dtype in SEED_SCHEMA.items()})
    if seeds["seed_id"].null_count() or seeds["request"].null_count():
        raise ValueError("seeds have null seed_id or request values")

    records = seeds.to_dicts()
    parts = []
    for order, form in enumerate(chosen):
        pools = form.reserved(heldout, seed) if heldout is not None else None
        keep, picked, texts = [], [], []
        for index, row in enumerate(records):
            split = row.get("split")
            if pools is not None and split not in pools:
                raise ValueError(f"seed {row['seed_id']!r} has split {split!r}; expected one of {list(pools)}")
            pool = pools[split] if pools is not None else form.templates
            fitting = [t for t in pool if eligible is None or eligible(t, row)]
            if fitting:
                keep.append(index)
                template = form.pick(row["seed_id"], seed, fitting)
                picked.append(template)
                texts.append(request_text(template, row) if request_text else row["request"])
        if not keep:
            continue
        subset = seeds[keep]
        parts.append(
            subset.with_columns(
                task=pl.lit(form.name, dtype=pl.String),
                template_id=pl.Series([t.id for t in picked], dtype=pl.String),
                prompt=pl.Series([t.fill(text) for t, text in zip(picked, texts)], dtype=pl.String),
                _order=pl.lit(order, dtype=pl.Int32),
            )
        )
    columns = [*seeds.columns, "task", "template_id", "prompt"]
    if not parts:
        return pl.DataFrame(schema={**seeds.schema, "task": pl.String, "template_id": pl.String,
                                    "prompt": pl.String})
    rows = pl.concat(parts)
    # Sort on id, form and template so that even repeated seed ids come out in one order.
    rows = rows.sort(["seed_id", "_order", "template_id", "prompt"])
    return rows.select(columns)


def templates_by_id(library: str | Path | None = None) -> dict[str, Template]:
    """Every template by id (shared and cached per library file: do not modify it).  Looked up
    once per row, so it is built once per version of forms.toml."""
    load_forms(library)  # checks the library and raises its errors
    path = templates_dir(library) / FORMS_FILE
    return _index(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _index(path: Path, _mtime: int) -> dict[str, Template]:
    return {t.id: t for form in _load_forms(path, _mtime).values() for t in form.templates}


# Rows a model adds keep a template id that says where they came from: a
# paraphrase names its template plus "~paraphrase<k>".  The paper's own
# translation form, "translation/paper_from_<lang>@v1", is in the library: it
# wraps benign human translations, and seeds the model translated.
PARAPHRASE_MARK = "~paraphrase"
PAPER_PROMPT = "Translate the following text from {language} to English: {request}"


def template_for(template_id: str, library: str | Path | None = None) -> Template:
    """The template a row's ``template_id`` names, including the ids of model-added rows."""
    known = templates_by_id(library)
    base = template_id.split(PARAPHRASE_MARK, 1)[0]
    if base in known:
        return known[base]
    raise RecipeError(f"unknown template {template_id!r}; known: {', '.join(sorted(known))}")

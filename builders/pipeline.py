"""``build()``: from a version recipe and pinned sources to a Hub-layout folder.

Stage order, each a function over polars frames:

1. sources    resolve and verify every pinned file the recipe names
2. seeds      harmful requests from each source (``seeds.py``); the authors'
              release, labeled and cleaned (``upstream.py``)
3. clusters   exact and near duplicates among seeds: one seed per cluster
              survives, upstream rows join the cluster of their twin
4. split      whole clusters to train/validation/test, stratified by category
5. render     every seed in every task form, held-out templates per split
6. respond    a task-aware refusal for every harmful row
7. benign     reference rows from benign sources and the project's own texts
8. dedup      exact and near duplicates over the final prompts
9. decontam   rows that copy an evaluation prompt are removed
10. check     no cluster and no near-duplicate pair across splits
11. write     Parquet per config and split, card, manifest (atomically)
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
from tqdm import tqdm

from . import balance, benign, card, review, seeds, split, upstream
from .compose import compose, response_language
from .items import ITEM_SCHEMA, load_items, po_items, seeds_as_items
from .language import match_rate, mismatches
from .dedup import exact, minhash
from .errors import BuildError
from .preflight import check_build
from .recipe import Recipe, load_recipe
from .render import render, template_for
from .resources import data_dir
from .respond import get_responder, lint_row
from .review import HARMFUL_ACTIONS
from .schema import ROW_SCHEMA, SEED_SCHEMA, WORK_SCHEMA, check, conform, messages, row_ids, stable_int
from .sources import Resolved, Resolver, load_registry, sha256_file
from .synthesize.settings import SynthesisOptions
from .write import write_folder

AUDIT_SCHEMA = pl.Schema({
    "stage": pl.String, "reason": pl.String, "seed_id": pl.String, "source": pl.String,
    "text": pl.String, "response": pl.String, "kept_id": pl.String,
})


@dataclass
class BuildResult:
    version: str
    out: str
    recipe_sha256: str
    rows: dict[str, dict[str, int]]
    stages: list[dict] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    unreviewed: int = 0  # seeds no review line covers: decided by rules, not by reading
    reviewed: int = 0
    balance: dict = field(default_factory=dict)  # per form: harmful, benign, ratio, wrapper AUC
    llm: dict = field(default_factory=dict)  # requests, cache hits, failures, ledger; when a model wrote rows

    def to_dict(self) -> dict:
        return asdict(self)


class _Stages:
    """Times each stage and counts the rows that went in and came out."""

    def __init__(self, names: list[str], progress: bool):
        self.records: list[dict] = []
        self.bar = tqdm(total=len(names), desc="build", unit="stage", disable=not progress, leave=False)

    def run(self, name: str, rows_in: int, fn, *args, **kwargs):
        self.bar.set_postfix_str(name)
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        out = result[0] if isinstance(result, tuple) else result
        self.records.append({"stage": name, "rows_in": rows_in,
                             "rows_out": out.height if isinstance(out, pl.DataFrame) else rows_in,
                             "seconds": round(time.perf_counter() - start, 2)})
        self.bar.update()
        return result

    def close(self) -> None:
        self.bar.close()


def build(
    version: str,
    out: Path | None = None,
    *,
    sources_dir: Path | None = None,
    overrides: dict[str, Path] | None = None,
    seed: int | None = None,
    include_upstream: bool = False,
    decontaminate_specs: tuple[str, ...] = (),
    cache_dir: Path | None = None,
    progress: bool = True,
    synthesis: SynthesisOptions | None = None,
) -> BuildResult:
    recipe = load_recipe(version)
    if seed is not None:
        recipe = recipe.with_options(seed=seed)
    if include_upstream:
        recipe = recipe.with_options(include_upstream=True)
    specs = recipe.decontaminate + tuple(decontaminate_specs)
    out = Path(out) if out is not None else Path("dist") / recipe.version
    check_build(recipe, out, sources_dir=sources_dir, cache_dir=cache_dir, overrides=overrides or {}, specs=specs)
    started = time.perf_counter()
    synth = _synthesizer(recipe, synthesis, progress)
    stages = _Stages(["sources", "seeds", "review", "upstream", "clusters", "benign", "split", "render",
                      "respond", "balance", "dedup", "decontaminate", "check", "write"]
                     + (["synthesize", "benign_llm"] if synth else []), progress)
    audit: list[pl.DataFrame] = []
    try:
        with Resolver(sources_dir=sources_dir, cache_dir=cache_dir, overrides=overrides) as resolver:
            resolved = stages.run("sources", 0, _resolve_sources, recipe, resolver, progress)
        taxonomy = seeds.load_taxonomy()
        harmful, rule_dropped = stages.run("seeds", 0, _harmful_seeds, recipe, resolved, taxonomy)
        harmful, gone, review_stats = stages.run("review", harmful.height + rule_dropped.height, _review,
                                                 harmful, rule_dropped, taxonomy)
        audit.append(gone)
        up_rows, gone, cleaning, quality = stages.run("upstream", 0, _upstream_rows, recipe, resolved)
        audit.append(gone)
        harmful, up_rows, gone, seed_dedup = stages.run("clusters", harmful.height + up_rows.height,
                                                        _seed_clusters, harmful, up_rows, recipe)
        audit.append(gone)
        items, references, gone = stages.run("benign", 0, _benign_items, recipe, resolved, taxonomy)
        audit.append(gone)
        harmful, up_rows, items, references = stages.run(
            "split", harmful.height + up_rows.height + items.height + references.height,
            _assign_splits, harmful, up_rows, items, references, recipe)
        rendered = stages.run("render", harmful.height + items.height, _render, harmful, items, recipe)
        if synth is not None:
            rendered = stages.run("synthesize", rendered.height, synth.extend_rendered, rendered,
                                  _seed_pool(harmful).filter(pl.col("action") == "refuse"))
        rendered, gone = stages.run("respond", rendered.height, _respond, rendered, recipe, synth)
        audit.append(gone)
        if synth is not None and synth.options.benign == "llm":
            extra = stages.run("benign_llm", items.height, _benign_by_model, items, recipe, synth)
            rendered = pl.concat([rendered, extra.select(rendered.columns)])
        rendered, gone = stages.run("balance", rendered.height, _balance, rendered, recipe)
        audit.append(gone)
        rows = pl.concat([rendered, up_rows, references], how="vertical")
        rows, gone, prompt_dedup = stages.run("dedup", rows.height, _final_dedup, rows, recipe)
        audit.append(gone)
        rows, gone = stages.run("decontaminate", rows.height, _decontaminate, rows, harmful, specs, recipe,
                                resolved)
        audit.append(gone)
        checks = stages.run("check", rows.height, _checks, rows, recipe)
        dropped = pl.concat(audit, how="vertical").sort("stage", "reason", "seed_id", "text")
        sources_manifest = {name: r.manifest_entry() for name, r in sorted(resolved.items())}
        dedup_stats = {"seeds": seed_dedup, "prompts": prompt_dedup}
        build_steps = _build_steps(stages.records, dropped, cleaning, quality, dedup_stats, recipe)
        if synth is not None:
            build_steps += "\n" + synth.card_section()
        content = {"review": review_stats, **checks}
        text = card.render_card(rows, recipe, sources_manifest, build_steps, taxonomy, content)
        manifest = {
            "version": recipe.version,
            "recipe": recipe.path.name if recipe.path else recipe.version,
            "recipe_sha256": recipe.sha256,
            "seed": recipe.seed,
            "sources": sources_manifest,
            "dropped": _reason_counts(dropped),
            "dedup": dedup_stats,
            "decontaminate": _eval_files(specs),
            "decontaminate_sources": list(recipe.decontaminate_sources),
            "review": review_stats,
            "balance": checks["balance"],
            "language_check": checks["language"],
            "upstream_cleaning": cleaning,
            "upstream_label_quality": quality,
            "stages": [{k: v for k, v in s.items() if k != "seconds"} for s in stages.records],
        }
        if synth is not None:
            manifest["llm"] = synth.manifest_entry()
        written = stages.run("write", rows.height, write_folder, out, rows, text, manifest, dropped)
    finally:
        stages.close()
        if synth is not None:
            synth.finish(out)
    return BuildResult(
        version=recipe.version, out=str(out), recipe_sha256=recipe.sha256, rows=written["rows"],
        stages=stages.records, dropped=_reason_counts(dropped), seconds=round(time.perf_counter() - started, 2),
        unreviewed=review_stats["unreviewed"], reviewed=review_stats["reviewed"], balance=checks["balance"],
        llm=synth.report(out) if synth is not None else {},
    )


def _synthesizer(recipe: Recipe, synthesis: SynthesisOptions | None, progress: bool):
    """The model-written parts of this build (``builders.synthesize``), or None for a template build.
    A model's answer must pass the very lint a template response passes, then the model checks."""
    if synthesis is None or not synthesis.active:
        return None
    from .synthesize.checks import response_problem
    from .synthesize.stage import Synthesizer

    return Synthesizer(recipe, synthesis, progress=progress,
                       check=lambda row, text: response_check(row, text) or response_problem(row, text))


# -- stages ------------------------------------------------------------------------------------


def _resolve_sources(recipe: Recipe, resolver: Resolver, progress: bool) -> dict[str, Resolved]:
    registry = load_registry()
    names = list(recipe.harmful_sources) + list(recipe.benign_sources) + list(recipe.decontaminate_sources)
    if recipe.include_upstream:
        names.append(recipe.upstream_source)
    unknown = [n for n in [*names, *resolver.overrides] if n not in registry]
    if unknown:
        raise BuildError(f"unknown source(s) {unknown}; known: {', '.join(sorted(registry))}")
    bar = tqdm(names, desc="sources", unit="source", leave=False, disable=not progress)
    return {name: resolver.resolve(registry[name]) for name in bar}


def _audit(frame: pl.DataFrame, stage: str, text: str, **columns) -> pl.DataFrame:
    """Removed rows in the one audit schema, whatever stage removed them."""
    exprs = {"stage": pl.lit(stage), "text": pl.col(text)}
    for name in ("reason", "seed_id", "source", "response", "kept_id"):
        given = columns.get(name, name)
        exprs[name] = pl.col(given) if given in frame.columns else pl.lit("")
    return frame.select(**exprs).select(list(AUDIT_SCHEMA)).cast(dict(AUDIT_SCHEMA)).fill_null("")


def _harmful_seeds(recipe: Recipe, resolved: dict[str, Resolved], taxonomy: dict):
    """Seeds of every harmful source, and the rows its parser drops by rule (the
    review may take those back)."""
    kept, gone = [pl.DataFrame(schema=SEED_SCHEMA)], [pl.DataFrame(schema=seeds.DROPPED_SCHEMA)]
    for name in recipe.harmful_sources:
        found, dropped = seeds.parse_seeds(resolved[name].files, resolved[name].source, taxonomy)
        kept.append(found)
        gone.append(dropped)
    return pl.concat(kept), pl.concat(gone)


def _review(harmful: pl.DataFrame, rule_dropped: pl.DataFrame, taxonomy: dict):
    reviewed, dropped, stats = review.apply(harmful, rule_dropped, data_dir(), taxonomy)
    return reviewed, _audit(dropped, "review", "request"), stats


def _upstream_rows(recipe: Recipe, resolved: dict[str, Resolved]):
    empty = pl.DataFrame(schema=ROW_SCHEMA)
    if not recipe.include_upstream:
        return empty, pl.DataFrame(schema=AUDIT_SCHEMA), [], {}
    source = resolved[recipe.upstream_source]
    raw = upstream.parse_multitaskbench(source.files, source.source)
    labeled = upstream.label(raw)
    kept, dropped, steps = upstream.clean(labeled)
    quality = upstream.label_quality(labeled)
    rows = upstream.to_rows(kept, source.source)
    dropped = dropped.with_columns(pl.lit(source.source.name).alias("source"))
    return rows, _audit(dropped, "upstream", "query"), steps, quality


def _priority(recipe: Recipe) -> pl.Expr:
    order = list(recipe.dedup.priority)
    return pl.col("source").replace_strict(order, list(range(len(order))), default=len(order),
                                           return_dtype=pl.Int32)


def _minhash_config(recipe: Recipe) -> minhash.MinHashConfig:
    d = recipe.dedup
    return minhash.MinHashConfig(shingle=d.shingle, ngram=d.ngram, num_perm=d.num_perm, threshold=d.threshold,
                                 bands=d.bands, rows=d.rows, fp_weight=d.fp_weight, fn_weight=d.fn_weight,
                                 seed=d.seed, verify=d.verify)


def _seed_clusters(harmful: pl.DataFrame, up_rows: pl.DataFrame, recipe: Recipe):
    """Seeds and upstream rows pooled: exact then near duplicates of a seed's
    request.  Only the best seed of a cluster survives; upstream rows are all
    kept (they are filtered on their own) and join their twin's cluster."""
    pool = pl.concat([
        harmful.select(pl.col("seed_id").alias("id"), pl.col("request").alias("text"), "source",
                       pl.lit(True).alias("is_seed")),
        up_rows.select("id", pl.col("prompt").alias("text"), "source", pl.lit(False).alias("is_seed")),
    ]).with_columns(_priority(recipe).alias("_rank"), exact.normalize(pl.col("text")).alias("_norm"))
    cfg = _minhash_config(recipe)
    pairs = minhash.near_duplicate_pairs(pool, "_norm", cfg)
    exact_pairs = (
        pool.select("id", "_norm").join(pool.select(pl.col("id").alias("id_b"), "_norm"), on="_norm")
        .filter(pl.col("id") < pl.col("id_b"))
        .select(pl.col("id").alias("id_a"), "id_b", pl.lit(1.0).alias("jaccard"))
    )
    pairs = pl.concat([pairs.select("id_a", "id_b", pl.col("jaccard").cast(pl.Float64)), exact_pairs]).unique(
        ["id_a", "id_b"], keep="first")
    components = minhash.connected_components(pool["id"], pairs)
    ranked = pool.join(components, on="id").sort("is_seed", "_rank", "id", descending=[True, False, False])
    # The cluster is named after its best member: a seed if it has one.
    ranked = ranked.with_columns(pl.col("id").first().over("cluster_id").alias("_keeper"))
    ranked = ranked.with_columns(
        pl.col("_keeper").alias("cluster_id"),
        pl.col("is_seed").sum().over("_keeper").alias("_seeds"),
    )
    removed = ranked.filter(pl.col("is_seed") & (pl.col("id") != pl.col("_keeper")))
    same_text = removed.join(ranked.select(pl.col("id").alias("_keeper"), pl.col("_norm").alias("_kept_norm")),
                             on="_keeper")
    gone = _audit(
        same_text.with_columns(
            pl.when(pl.col("_norm") == pl.col("_kept_norm")).then(pl.lit("exact_duplicate_seed"))
            .otherwise(pl.lit("near_duplicate_seed")).alias("reason"),
            pl.col("id").alias("seed_id"),
        ),
        "clusters", "text", kept_id="_keeper",
    )
    clusters = ranked.select("id", "cluster_id").with_columns(
        pl.len().over("cluster_id").cast(pl.Int32).alias("cluster_size"))
    kept_seeds = harmful.join(clusters.rename({"id": "seed_id"}), on="seed_id").join(
        removed.select(pl.col("id").alias("seed_id")), on="seed_id", how="anti")
    up_rows = up_rows.drop("cluster_id", "cluster_size").join(clusters, on="id").select(list(ROW_SCHEMA))
    stats = {
        "rows_in": pool.height,
        "exact_pairs": exact_pairs.height,
        "near_pairs_verified": pairs.height - exact_pairs.height,
        "clusters_with_duplicates": int(clusters.filter(pl.col("cluster_size") > 1)["cluster_id"].n_unique()),
        "seeds_removed": removed.height,
    }
    return kept_seeds, up_rows, gone, stats


def _assign_splits(harmful: pl.DataFrame, up_rows: pl.DataFrame, items: pl.DataFrame, references: pl.DataFrame,
                   recipe: Recipe):
    """Harmful clusters are stratified by category, benign items by the file they
    come from, reference rows by task form.  A cluster's category is that of its
    surviving member."""
    forms = max(len(recipe.forms), 1)
    members = pl.concat([
        harmful.select("cluster_id", pl.col("category").alias("stratum"), pl.lit(forms).alias("weight"),
                       pl.lit(0).alias("_upstream"), pl.col("seed_id").alias("_id")),
        up_rows.select("cluster_id", pl.col("category").alias("stratum"), pl.lit(1).alias("weight"),
                       pl.lit(1).alias("_upstream"), pl.col("id").alias("_id")),
    ])
    # Members sorted seed first, then by id, so "first" is the same member in every build.
    units = members.sort("cluster_id", "_upstream", "_id").group_by("cluster_id", maintain_order=True).agg(
        pl.col("stratum").first(), pl.col("weight").sum())
    item_units = items.select("cluster_id", "stratum", pl.lit(forms).alias("weight"))
    reference_units = references.select("cluster_id", pl.format("benign/{}", "task").alias("stratum"),
                                        pl.lit(1).alias("weight")).group_by("cluster_id").agg(
        pl.col("stratum").min(), pl.col("weight").sum())
    ratios, seed = recipe.split.ratios, recipe.seed
    assignment = pl.concat([split.assign(units.sort("cluster_id"), ratios, seed),
                            split.assign(pl.concat([item_units, reference_units]).sort("cluster_id"), ratios, seed)])
    return (harmful.join(assignment, on="cluster_id"), up_rows.join(assignment, on="cluster_id"),
            items.join(assignment, on="cluster_id"), references.join(assignment, on="cluster_id"))


_PLACED = ["cluster_id", "cluster_size", "split"]


def _seed_pool(harmful: pl.DataFrame) -> pl.DataFrame:
    """Reviewed seeds as items the renderer reads, keeping cluster and split."""
    return seeds_as_items(harmful).hstack(harmful.select(_PLACED))


def _render(harmful: pl.DataFrame, items: pl.DataFrame, recipe: Recipe) -> pl.DataFrame:
    """Seeds and benign items through the same templates, each only where it fits."""
    pool = pl.concat([_seed_pool(harmful), items.select([*ITEM_SCHEMA, *_PLACED])])
    fits = _Fits()
    return render(pool, recipe.forms, recipe.seed, heldout=recipe.split.heldout_templates or None, eligible=fits,
                  request_text=fits.request_text)


# One benign translation item in this many may be asked in the other direction, into English:
# those templates carry no harmful rows without --translate-seeds, so they stay few.
INTO_ENGLISH_ONE_IN = 8


class _Fits:
    """Which templates fit a seed or item (``render``'s ``eligible``)."""

    def __init__(self):
        self._fields: dict[str, dict] = {}

    def __call__(self, template, row: dict) -> bool:
        if row["kind"] not in template.takes:
            return False
        if row["action"] == "refuse":
            # A seed is English: the paper's "from French to English" form needs a seed the
            # model translated (--translate-seeds), never the English text itself.
            return not template.source_language and (template.form != "code" or row["code"])
        if row["subtype"] == "request":
            # Support, corrections and the like are written as plain replies.
            return template.form == "direct" and template.compose == "answer"
        if template.source_language and stable_int("into-english", row["seed_id"]) % INTO_ENGLISH_ONE_IN:
            return False
        return compose(self.fields(row), template) is not None

    def fields(self, row: dict) -> dict:
        found = self._fields.get(row["seed_id"])
        if found is None:
            found = self._fields[row["seed_id"]] = json.loads(row["fields"])
        return found

    def request_text(self, template, row: dict) -> str:
        """What the template wraps: the request, or for a translation into English its translation."""
        if template.source_language:
            return self.fields(row)["translations"][template.source_language]["text"]
        return row["request"]


def _labelled(rendered: pl.DataFrame) -> pl.DataFrame:
    """Label and response language of every rendered row, known before anyone writes a response."""
    labels, languages = [], []
    for template_id, action in rendered.select("template_id", "action").iter_rows():
        template = template_for(template_id)
        label = "harmful" if action in HARMFUL_ACTIONS else "benign"
        labels.append(label)
        languages.append(response_language(template, label))
    return rendered.with_columns(pl.Series("label", labels, dtype=pl.String),
                                 pl.Series("language", languages, dtype=pl.String))


def response_check(row: dict, text: str) -> str | None:
    """The lint a released response must pass, for any writer of it (a model's answers
    are checked with this before they may replace the template response)."""
    template = template_for(row.get("template_id", ""))
    problems = lint_row(text, template, row.get("action", "refuse"), row.get("language", "en"), row.get("gist", ""))
    return "; ".join(problems) or None


def _benign_by_model(items: pl.DataFrame, recipe: Recipe, synth) -> pl.DataFrame:
    """Benign items through the wrappers that none of their written answers fills, answered by
    the model (``--benign llm``); rows whose answer fails its checks are left out."""
    wrapped = render(items.select([*ITEM_SCHEMA, *_PLACED]), recipe.forms, recipe.seed,
                     heldout=recipe.split.heldout_templates or None, eligible=_Unfilled())
    return synth.extend_benign(_labelled(wrapped))


class _Unfilled(_Fits):
    """Templates that fit a benign item's kind but that none of its written answers can
    fill: where a model may widen the benign side (``--benign llm``)."""

    def __call__(self, template, row: dict) -> bool:
        if row["kind"] not in template.takes or (template.form == "code" and not row["code"]):
            return False
        return not template.source_language and not super().__call__(template, row)


def _respond(rendered: pl.DataFrame, recipe: Recipe, synth=None):
    rendered = _labelled(rendered)
    gone = pl.DataFrame(schema=AUDIT_SCHEMA)
    if synth is not None and synth.options.responses == "llm":
        # Rows whose model answer failed keep their template response, or leave with the reason.
        rendered, responses, dropped = synth.respond(rendered)
        gone = _audit(dropped, "respond", "prompt")
    else:
        responses = get_responder(recipe.responder, seed=recipe.seed).respond(rendered)
    problems = []
    for row, text in zip(rendered.select("seed_id", "template_id", "action", "gist", "language").iter_rows(named=True),
                         responses.to_list()):
        if issue := response_check(row, text):
            problems.append((row["seed_id"], row["template_id"], issue, text))
    if problems:
        seed_id, template_id, issues, text = problems[0]
        raise BuildError(f"{len(problems)} responses fail the lint, e.g. {seed_id} through {template_id}: "
                         f"{issues} in {text[:200]!r}")
    rows = rendered.with_columns(responses.alias("response")).with_columns(
        messages().alias("messages"), row_ids("seed_id", "task", "template_id").alias("id"))
    return conform(rows, WORK_SCHEMA), gone


def _balance(rows: pl.DataFrame, recipe: Recipe):
    kept, trimmed = balance.trim(rows, recipe.balance, recipe.seed)
    return kept, _audit(trimmed.with_columns(pl.lit("benign_over_template_cap").alias("reason")), "balance",
                        "prompt", kept_id="template_id")


def _benign_items(recipe: Recipe, resolved: dict[str, Resolved], taxonomy: dict):
    """Benign items to render through the shared templates (the project's own and
    human translation pairs), and finished reference rows of benign-only tasks
    (sentiment labels, document summaries)."""
    items = [load_items(data_dir(), taxonomy)] if recipe.written_benign else []
    references, gone = [pl.DataFrame(schema=ROW_SCHEMA)], [pl.DataFrame(schema=AUDIT_SCHEMA)]
    for name in recipe.benign_sources:
        source = resolved[name].source
        parser = benign.BENIGN_PARSERS.get(source.parser)
        if parser is None:
            raise BuildError(f"source '{name}' names parser '{source.parser}'; known: {sorted(benign.BENIGN_PARSERS)}")
        options = {"per_cell": recipe.balance.vader_per_cell} if source.parser == "vader" and \
            recipe.balance.vader_per_cell else {}
        if source.parser == "po_pairs":
            pairs = benign.po_pairs(resolved[name].files, source)
            # A pair whose translation does not read as its language is no reference.
            unclear = mismatches(pairs.with_columns(pl.lit(source.language).alias("language")), text="translation")
            gone.append(_audit(unclear.with_columns(pl.lit("language_unclear").alias("reason")), "benign",
                               "english", response="translation"))
            items.append(po_items(pairs.join(unclear.select("seed_id"), on="seed_id", how="anti"), source.language))
        else:
            references.append(parser(resolved[name].files, source, **options))
    if recipe.written_benign:
        references.append(benign.written_rows(data_dir()))
    items = pl.concat(items) if items else pl.DataFrame(schema=ITEM_SCHEMA)
    items = items.with_columns(pl.col("seed_id").alias("cluster_id"), pl.lit(1, dtype=pl.Int32).alias("cluster_size"))
    return items, pl.concat(references, how="vertical"), pl.concat(gone)


def _final_dedup(rows: pl.DataFrame, recipe: Recipe):
    """Exact, then near duplicates over the prompt as a model sees it."""
    # near_dedup names clusters over prompts; the rows keep their seed clusters, which
    # decided the split and which the straddling check reads.
    seed_clusters = rows.select("id", "cluster_id", "cluster_size")
    rows = rows.with_columns(_priority(recipe).alias("_rank")).drop("cluster_id", "cluster_size")
    kept, gone_exact = exact.exact_dedup(rows, "prompt", ["_rank"])
    kept, gone_near = minhash.near_dedup(kept, "prompt", ["_rank"], _minhash_config(recipe))
    gone = [
        _audit(gone_exact, "dedup", "prompt", reason="reason", kept_id="kept_id"),
        _audit(gone_near, "dedup", "prompt", reason="reason", kept_id="kept_id"),
    ]
    kept = kept.drop("cluster_id", "cluster_size").join(seed_clusters, on="id").select(list(WORK_SCHEMA))
    stats = {
        "rows_in": rows.height,
        "exact_duplicates_removed": gone_exact.height,
        "near_duplicates_removed": gone_near.height,
        "near_duplicate_clusters": int(gone_near["kept_id"].n_unique()),
        "rows_out": kept.height,
    }
    return kept, pl.concat(gone), stats


def _decontaminate(rows: pl.DataFrame, harmful: pl.DataFrame, specs: tuple[str, ...], recipe: Recipe,
                   resolved: dict[str, Resolved]):
    """A rendered row is compared by its seed's request, so that a template around an
    evaluation prompt does not hide it (and every form of that seed goes); other rows
    by their prompt.  Evaluation sets pinned as sources (HumanEval) count too."""
    from .decontaminate import decontaminate, read_eval_texts

    texts = [read_eval_texts(spec) for spec in specs]
    texts += [benign.evaluation_prompts(resolved[name].files, resolved[name].source)
              for name in recipe.decontaminate_sources]
    if not texts:
        return rows, pl.DataFrame(schema=AUDIT_SCHEMA)
    texts = pl.concat([t.alias("text") for t in texts]).unique()
    matched = rows.join(harmful.select("seed_id", "request"), on="seed_id", how="left").with_columns(
        pl.coalesce("request", "prompt").alias("_match"))
    kept, removed = decontaminate(matched, "_match", texts, _minhash_config(recipe))
    return kept.select(list(WORK_SCHEMA)), _audit(removed, "decontaminate", "prompt", kept_id="matched_eval")


def _eval_files(specs: tuple[str, ...]) -> list[dict]:
    """Which evaluation files the build was cleaned against, by name and content; never by
    their path, which is the builder's own business and would be published with the manifest."""
    from .decontaminate import split_spec

    return [{"file": path.name, "column": column, "sha256": sha256_file(path)}
            for path, column in map(split_spec, specs)]


def _checks(rows: pl.DataFrame, recipe: Recipe) -> dict:
    """The promises the build keeps, or it fails: no leak across splits, every
    response in its language, labels the wrapper does not give away."""
    check(rows, "final", WORK_SCHEMA)
    straddling = split.straddling_clusters(rows)
    if straddling.height:
        raise BuildError(f"{straddling.height} clusters straddle splits, e.g. {straddling['cluster_id'][0]}")
    leaks = minhash.cross_split_pairs(rows, "prompt", "split", _minhash_config(recipe))
    if leaks.height:
        raise BuildError(f"{leaks.height} exact or near-duplicate prompt pairs cross splits; first: {leaks.row(0)}")
    # Code is not prose; the authors' release rows are checked by their own cleaning
    # (their refusals sometimes quote the French text they decline to translate).
    prose = rows.filter((pl.col("task") != "code") & (pl.col("subtype") != "upstream"))
    wrong = mismatches(prose)
    if wrong.height:
        first = wrong.row(0, named=True)
        raise BuildError(f"{wrong.height} responses are not in their row's language, e.g. {first['id']} "
                         f"({first['template_id']}) should be {first['language']}, reads as {first['detected']}: "
                         f"{first['response'][:160]!r}")
    judged, matched = match_rate(prose)
    figures = balance.report(rows.filter(pl.col("subtype") != "upstream"))
    if found := balance.problems(figures, recipe.balance):
        raise BuildError("the wrappers give the label away: " + "; ".join(found))
    return {"balance": figures, "language": {"judged": judged, "matched": matched}}


def _reason_counts(dropped: pl.DataFrame) -> dict[str, int]:
    counts = Counter()
    for stage, reason, n in dropped.group_by("stage", "reason").len().iter_rows():
        counts[f"{stage}/{reason}"] = int(n)
    return dict(sorted(counts.items()))


def _build_steps(stages: list[dict], dropped: pl.DataFrame, cleaning: list, quality: dict, dedup: dict,
                 recipe: Recipe) -> str:
    lines = ["| stage | rows in | rows out |", "|---|---|---|"]
    lines += [f"| {s['stage']} | {s['rows_in']} | {s['rows_out']} |" for s in stages if s["stage"] != "write"]
    lines += ["", "Rows removed, by stage and reason (the audit file `audit/dropped.parquet` lists each one):", ""]
    lines += [f"- `{key}`: {n}" for key, n in _reason_counts(dropped).items()] or ["- none"]
    d = recipe.dedup
    lines += ["", (f"Near duplicates: MinHash over {d.ngram}-{'character' if d.shingle == 'char' else 'word'} "
                   f"shingles of the normalized text, {d.num_perm} permutations, Jaccard threshold {d.threshold}"
                   f"{', candidate pairs verified by exact Jaccard' if d.verify else ''}. Of each cluster the row from "
                   "the highest-priority source survives, ties broken by the lowest id; source priority: "
                   + ", ".join(f"`{s}`" for s in d.priority) + ".")]
    seeds, prompts = dedup["seeds"], dedup["prompts"]
    lines += ["", (f"Over seeds ({seeds['rows_in']} requests, upstream rows included): {seeds['exact_pairs']} exact and "
                   f"{seeds['near_pairs_verified']} verified near-duplicate pairs, "
                   f"{seeds['clusters_with_duplicates']} clusters with more than one member, "
                   f"{seeds['seeds_removed']} seeds removed. Over final prompts ({prompts['rows_in']} rows): "
                   f"{prompts['exact_duplicates_removed']} exact and {prompts['near_duplicates_removed']} near "
                   f"duplicates removed from {prompts['near_duplicate_clusters']} clusters, {prompts['rows_out']} "
                   "rows left.")]
    if recipe.split.heldout_templates:
        held = ", ".join(f"{n} for {s}" for s, n in recipe.split.heldout_templates.items())
        lines += ["", f"Held-out templates: per task form, {held}; train never sees them, so held-out splits "
                      "measure unseen phrasings."]
    if cleaning:
        lines += ["", "Cleaning of the authors' release:", ""]
        for step in cleaning:
            counted = "; ".join(f"{k.replace('_', ' ')}: {_plain(v)}" for k, v in step.items()
                                if k not in ("step", "description", "reason"))
            lines.append(f"- **{step['step']}** ({counted}): {step.get('description', '')}")
    if quality:
        lines += ["", "Label quality of the release's labels, as measured:", ""]
        lines += [f"- {k.replace('_', ' ')}: {_plain(v)}" for k, v in sorted(quality.items()) if k != "method"]
        lines += [f"- how it was checked: {quality.get('method', '')}"]
    if recipe.notes:
        lines += ["", recipe.notes.strip()]
    return "\n".join(lines)


def _plain(value) -> str:
    """Numbers and small dicts as a person would write them in the card."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)

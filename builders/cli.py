"""Command-line entry points.  They parse options, call the library, print."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import BuildError
from .recipe import known_versions

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _print_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _emit(result, as_json: bool, summary) -> None:
    """A command's result on stdout: as JSON, or as its summary for a person."""
    if as_json:
        _print_json(result.to_dict())
    else:
        click.echo(summary(result))


def _table(rows: list[list], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if isinstance(c, int) else str(c).ljust(w) for c, w in zip(r, widths))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _build_summary(result) -> str:
    rows = [[config, *counts.values(), sum(counts.values())] for config, counts in result.rows.items()]
    first = next(iter(result.rows.values()))
    parts = [f"built {result.version} into {result.out} in {result.seconds:.1f} s",
             "", _table(rows, ["config", *first.keys(), "total"])]
    if result.reviewed or result.unreviewed:
        parts += ["", f"seeds: {result.reviewed} reviewed by reading, {result.unreviewed} unreviewed (handled by rules)"]
    if result.balance:
        body = [[task, f["harmful"], f["benign"], f"{f['wrapper_auc']:.3f}", "-" if f["lowest_benign_share"] is None else f"{f['lowest_benign_share']:.2f}"]
                for task, f in result.balance.items()]
        parts += ["", _table(body, ["form", "harmful", "benign", "wrapper AUC", "lowest template benign share"])]
    if result.dropped:
        parts += ["", _table([[k, v] for k, v in result.dropped.items()], ["dropped (stage/reason)", "rows"])]
    if result.llm:
        parts += ["", _llm_summary(result.llm)]
    return "\n".join(parts)


def _repo_id(ctx, param, value):
    # A malformed repo id is bad usage (exit 2), found before any work or network call.
    if value is None:
        return value
    from .publish import check_repo_id

    try:
        check_repo_id(value)
    except BuildError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _llm_summary(llm: dict) -> str:
    failures = ", ".join(f"{k} {v}" for k, v in llm["failures"].items()) or "none"
    lines = [f"llm: {llm['requests']} requests, {llm['cache_hits']} cache hits, {llm['answered']} answered, "
             f"{llm['prompt_tokens'] + llm['completion_tokens']} tokens; failed attempts: {failures}"]
    lines += [f"  {part}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) for part, counts in llm["outcomes"].items()]
    if llm["failed_requests"]:
        lines.append(f"  {llm['failed_requests']} requests failed for good, listed in {llm['ledger']}; "
                     "rerun with --retry-failed to send them again")
    return "\n".join(lines)


def _synthesis_options(llm: dict):
    from .synthesize.settings import SynthesisOptions

    languages = tuple(code.strip() for code in (llm.pop("translate_seeds") or "").split(",") if code.strip())
    no_cache = llm.pop("no_cache")
    return SynthesisOptions(**llm, translate_seeds=languages, use_cache=not no_cache)


def llm_options(command):
    """The options of commands that ask a model (build-dataset; evaluation can reuse them)."""
    options = [
        click.option("--responses", type=click.Choice(["template", "llm"]), default="template", show_default=True,
                     help="Who writes harmful rows' responses: the templates, or the model (checked like a template "
                          "response, regenerated once, else the template response)."),
        click.option("--benign", type=click.Choice(["written", "llm"]), default="written", show_default=True,
                     help="'llm' adds the benign questions in every task wrapper, answered by the model."),
        click.option("--translate-seeds", metavar="LANG[,LANG...]", default=None,
                     help="Translate each harmful seed (e.g. fr,de) for the paper's 'Translate the following text "
                          "from French to English: ...' form."),
        click.option("--paraphrase", type=click.IntRange(min=0), default=0, metavar="N",
                     help="N model-written rephrasings per rendered harmful prompt."),
        click.option("--model", envvar="MTS_LLM_MODEL", default=None, metavar="NAME",
                     help="Model name as the server knows it [env MTS_LLM_MODEL]."),
        click.option("--base-url", default=None, metavar="URL",
                     help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 [env OPENAI_BASE_URL]. "
                          "The key is read from OPENAI_API_KEY and never written anywhere."),
        click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
                     help="Requests in flight at most; lowered automatically on 429."),
        click.option("--rpm", type=click.IntRange(min=1), default=None, help="Hard cap on requests per minute."),
        click.option("--tpm", type=click.IntRange(min=1), default=None, help="Hard cap on tokens per minute."),
        click.option("--temperature", type=float, default=None, help="Override the recipe's temperature."),
        click.option("--max-tokens", type=click.IntRange(min=1), default=None,
                     help="Override the recipe's token limit per answer."),
        click.option("--llm-cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path),
                     envvar="MTS_LLM_CACHE", default=None,
                     help="SQLite file of stored answers [env MTS_LLM_CACHE; default <cache dir>/llm.sqlite]."),
        click.option("--no-cache", is_flag=True, help="Neither read nor store model answers."),
        click.option("--retry-failed", is_flag=True,
                     help="Send again the requests whose last outcome was a failure."),
        click.option("--batch", is_flag=True,
                     help="Use the Batch API (upload, poll, download); a rerun resumes the submitted batches."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _known_version(ctx, param, value):
    # Checked at call time, not import time, so MTS_DATA_DIR recipes count too.
    if value not in known_versions():
        raise click.BadParameter(f"unknown version '{value}'; known versions: {', '.join(known_versions())}")
    return value


@click.command(context_settings=CONTEXT)
@click.option("--version", "version", required=True, callback=_known_version, metavar="VERSION",
              help="Dataset version to build, named by a recipe in data/recipes/ (shipped: v1, v2).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: dist/VERSION): a new or empty folder, or an earlier build, "
                   "which is replaced atomically at the end. Any other folder is refused.")
@click.option("--sources", "sources_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              envvar="MTS_SOURCES", default=None,
              help="Local folder laid out as DIR/<source>/<file>, searched before the cache and the network [env MTS_SOURCES].")
@click.option("--source", "source_overrides", multiple=True, metavar="NAME=PATH",
              help="Build from your own copy of a source (a file, or a folder for multi-file sources); "
                   "recorded as unpinned. Repeatable.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MTS_CACHE_DIR",
              default=None, help="Where fetched source files are kept "
                                 "[env MTS_CACHE_DIR; default $XDG_CACHE_HOME/multitask-safety or ~/.cache/multitask-safety].")
@click.option("--seed", type=int, default=None, help="Override the recipe's seed (template choice and splits).")
@click.option("--include-upstream", is_flag=True,
              help="Add the authors' cleaned MultiTaskBench rows as config 'upstream' and into 'default'.")
@click.option("--decontaminate", "decontaminate_specs", multiple=True, metavar="FILE[:COLUMN]",
              help="Remove rows that are exact or near duplicates of the evaluation prompts in FILE "
                   "(CSV, JSON, JSONL or Parquet; COLUMN defaults to prompt/text). Repeatable.")
@click.option("--push-to-hub", "repo_id", default=None, metavar="ORG/NAME", callback=_repo_id,
              help="After building, publish the folder to this Hub dataset repo (see publish-dataset).")
@click.option("--json", "as_json", is_flag=True, help="Print the build summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@llm_options
def build_dataset(version, out, sources_dir, source_overrides, cache_dir, seed, include_upstream,
                  decontaminate_specs, repo_id, as_json, quiet, **llm):
    """Build a version of the multitask safety dataset into a Hub-layout folder.

    Sources are read from pinned files (checked by sha256), rendered in five task
    forms with task-aware refusals, deduplicated, split without leaks, and
    written as Parquet per config and split with a dataset card and a manifest.

    \b
    A model behind any OpenAI-compatible server can write the responses, benign
    rows in every task wrapper, translations of the seeds and paraphrases; its
    answers are cached per request, so a rerun costs nothing.

    \b
    Example:
        build-dataset --version v2
        build-dataset --version v1 --sources ../shared/sources --out dist/v1 --json
        build-dataset --version v2 --responses llm --model gpt-4o-mini --concurrency 32
    """
    from .pipeline import build
    from .sources import parse_overrides

    try:
        if repo_id:  # a token the Hub refuses should stop the build before it starts, not after
            from .publish import check_access

            check_access(repo_id)
        result = build(
            version, out, sources_dir=sources_dir, overrides=parse_overrides(source_overrides), seed=seed,
            include_upstream=include_upstream, decontaminate_specs=tuple(decontaminate_specs),
            cache_dir=cache_dir, progress=not quiet, synthesis=_synthesis_options(llm),
        )
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
    summary = result.to_dict()
    published = _publish(Path(result.out), repo_id, progress=not quiet) if repo_id else None
    if isinstance(published, dict):
        summary["publish"] = published
    if as_json:
        _print_json(summary)
    else:
        click.echo(_build_summary(result))
        if isinstance(published, dict):
            click.echo(f"\npublished to {repo_id}: {published.get('load_line', '')}")
    if isinstance(published, str):  # the build is done and was reported; only the publish failed
        raise click.ClickException(f"built {result.version} into {result.out}, but publishing failed: {published} "
                                   f"To publish this build without building it again: publish-dataset {result.out} "
                                   f"--repo-id {repo_id}")


def _publish(build_dir: Path, repo_id: str, *, progress: bool = True) -> dict | str:
    """Publish a built folder (``build-dataset --push-to-hub``): the result as a dict, or why it failed."""
    from .publish import publish

    try:
        return publish(build_dir, repo_id, progress=progress).to_dict()
    except BuildError as exc:
        return str(exc)


@click.command(context_settings=CONTEXT)
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo-id", required=True, metavar="ORG/NAME", callback=_repo_id,
              help="Dataset repo on the Hub to publish to.")
@click.option("--private/--public", default=False, show_default=True,
              help="Visibility used when the repo has to be created; an existing repo keeps its own.")
@click.option("--gate/--no-gate", default=True, show_default=True,
              help="Gate access behind usage terms (extra_gated_* card fields and the repo's gated setting).")
@click.option("--force", is_flag=True,
              help="Move an existing version tag to new content, or publish an older version over main.")
@click.option("--include-manifest/--no-manifest", default=True, show_default=True,
              help="Publish manifest.json (the next version's changelog reads it).")
@click.option("--include-audit", is_flag=True, help="Also publish audit/ (rows the build dropped, with reasons).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout instead of a summary.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show upload progress and steps on stderr.")
def publish_dataset(build_dir, repo_id, private, gate, force, include_manifest, include_audit, as_json, progress):
    """Publish the built folder BUILD_DIR to the Hugging Face Hub as one tagged version.

    One commit on main holds the whole version (Parquet shards, card, manifest);
    the tag named after the version in manifest.json points at exactly that
    commit. Publishing identical content again changes nothing. The token is
    read from HF_TOKEN or from `hf auth login`.

    \b
    Example:
        publish-dataset dist/v2 --repo-id my-org/multitask-safety
        publish-dataset dist/v2 --repo-id my-org/multitask-safety --json
    """
    from .publish import publish, summary

    try:
        result = publish(build_dir, repo_id, private=private, gate=gate, force=force,
                         include_manifest=include_manifest, include_audit=include_audit, progress=progress)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(result, as_json, summary)


def _forms(ctx, param, value):
    from .schema import TASKS

    forms = tuple(f.strip() for f in value.split(",") if f.strip())
    unknown = sorted(set(forms) - set(TASKS))
    if unknown or not forms:
        raise click.BadParameter(f"unknown task form(s) {unknown}; known: {', '.join(TASKS)}")
    return forms


@click.command(context_settings=CONTEXT)
@click.argument("task_data")
@click.option("--safety", "safety_source", required=True, metavar="DIR_OR_REPO",
              help="Our dataset: a folder written by build-dataset, or a Hub repo id (see --revision).")
@click.option("--revision", default=None, help="Tag or commit of the --safety Hub repo (e.g. v2).")
@click.option("--per-form", type=click.IntRange(min=0), default=None, metavar="N",
              help="Safety rows per task form.")
@click.option("--ratio", type=click.FloatRange(min=0), default=None, metavar="R",
              help="Or: R safety rows per kept task row in all, spread evenly over the forms.")
@click.option("--forms", default="direct,summarization,translation,classification,code", callback=_forms,
              show_default=True, help="Task forms to take safety rows from, comma-separated.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Which safety rows are taken and the order of the output.")
@click.option("--format", "fmt", type=click.Choice(["chat-jsonl", "parquet"]), default="chat-jsonl",
              show_default=True, help="Output format; both hold `messages` and `provenance` per row.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file. Removed task rows are listed beside it in OUT_STEM.removed.jsonl.")
@click.option("--prompt-column", default="prompt", show_default=True, help="Column of TASK_DATA with the prompt.")
@click.option("--response-column", default="response", show_default=True,
              help="Column of TASK_DATA with the response.")
@click.option("--task-split", default="train", show_default=True,
              help="Split to read when TASK_DATA is a Hub dataset.")
@click.option("--task-revision", default=None, help="Revision to read when TASK_DATA is a Hub dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def mix_dataset(task_data, safety_source, revision, per_form, ratio, forms, seed, fmt, out, prompt_column,
                response_column, task_split, task_revision, as_json):
    """Mix the task data TASK_DATA with safety rows of ours into one fine-tuning file.

    TASK_DATA is a JSONL, JSON, CSV or Parquet file with prompt and response
    columns, or a Hub dataset id.  Safety rows come from the train split only
    (never validation or test), harmful and benign in each form's own
    proportion, chosen by --seed.  Task rows that copy a prompt of our test
    split (exact or near duplicates) are removed and listed.  Every output row
    carries its provenance.

    \b
    Example:
        mix-dataset my_task.jsonl --safety dist/v2 --per-form 100 --out mix.jsonl
        mix-dataset my_task.csv --safety my-org/multitask-safety --revision v2 --ratio 0.2 --forms code --out mix.jsonl
    """
    from .mix import MixRequest, mix, summary
    from .taskdata import read_task_data

    if (per_form is None) == (ratio is None):
        raise click.UsageError("give exactly one of --per-form N and --ratio R")
    try:
        task = read_task_data(task_data, prompt_column, response_column, hub_split=task_split,
                              revision=task_revision)
        result = mix(task, safety_source, out, MixRequest(per_form=per_form, ratio=ratio, forms=forms, seed=seed,
                                                          fmt=fmt), revision=revision)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(result, as_json, summary)


def _evaluation_summary(result, compare_mode: bool = False) -> str:
    paths = "\n".join(f"  {path}" for path in result.files.values())
    if compare_mode:
        from .evaluate.compare import markdown
    else:
        from .evaluate.report import markdown
    return f"{markdown(result.report)}\nwrote:\n{paths}"


@click.command(context_settings=CONTEXT)
@click.argument("source", metavar="DIR_OR_REPO", required=False)
@click.option("--config", "config_name", default="default", show_default=True, help="Dataset config to evaluate.")
@click.option("--revision", default=None, help="Tag or commit when DIR_OR_REPO is a Hub repo id (e.g. v2).")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@click.option("--base-url", envvar="OPENAI_BASE_URL", default=None,
              help="OpenAI-compatible server of the model, e.g. http://127.0.0.1:8000/v1 [env OPENAI_BASE_URL]. "
                   "The key is read from OPENAI_API_KEY.")
@click.option("--model", default=None, help="Model name as the server knows it.")
@click.option("--system-prompt", default=None, metavar="TEXT", help="System prompt sent before every prompt.")
@click.option("--temperature", type=float, default=0.1, show_default=True,
              help="Sampling temperature (the paper's setting).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=100, show_default=True,
              help="New tokens per answer at most (the paper's setting).")
@click.option("--seed", type=int, default=None, help="Sampling seed passed to the server.")
@click.option("--judge", type=click.Choice(["keyword", "llm"]), default="keyword", show_default=True,
              help="keyword: the offline refusal detector; llm: a judge model with the paper's rubric.")
@click.option("--judge-model", default=None, help="Judge model name (with --judge llm).")
@click.option("--judge-base-url", default=None, help="Server of the judge model (default: --base-url).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for report.json, report.md, report.png and responses.parquet (default: eval/MODEL).")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="Requests in flight at most.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write stored answers.")
@click.option("--retry-failed", is_flag=True, help="Send again the requests whose stored outcome is a failure.")
@click.option("--sources", "sources_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              envvar="MTS_SOURCES", default=None,
              help="Local folder with the pinned calibration files (DIR/pyrit_refusal/*.csv) [env MTS_SOURCES].")
@click.option("--no-calibration", is_flag=True, help="Skip measuring the judge against PyRIT's human labels.")
@click.option("--compare", "compare_paths", nargs=2, type=click.Path(exists=True, path_type=Path), default=None,
              metavar="A B", help="Instead of evaluating: put two reports (report.json or their folders) side "
                                  "by side, with the difference per form.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate_dataset(source, config_name, revision, split, base_url, model, system_prompt, temperature, max_tokens,
                     seed, judge, judge_model, judge_base_url, out, concurrency, no_cache, retry_failed, sources_dir,
                     no_calibration, compare_paths, as_json, quiet):
    """Measure attack success and over-refusal of a model on a split of DIR_OR_REPO.

    Every prompt of the split (harmful and benign) is sent to the model
    (defaults: temperature 0.1 and at most 100 new tokens, as in the paper),
    the answers are judged, and rates per task form, per category and per
    form x category are reported with 95 % Wilson intervals; failed requests
    are counted apart and left out of every rate.  Answers are stored, so a
    rerun is free and an interrupted run resumes.  DIR_OR_REPO is a folder
    written by build-dataset or a Hub repo id (with --revision).

    \b
    Example:
        evaluate-dataset dist/v2 --base-url http://127.0.0.1:8000/v1 --model my-model --out eval/base
        evaluate-dataset my-org/multitask-safety --revision v2 --model gpt-4o-mini --judge llm --judge-model gpt-4o
        evaluate-dataset --compare eval/base eval/tuned --out eval/base-vs-tuned
    """
    from .evaluate import compare_reports, evaluate, judge_config, model_config

    try:
        if compare_paths:
            if source or model:
                raise click.UsageError("--compare A B takes two reports; leave out DIR_OR_REPO and --model")
            result = compare_reports(*compare_paths, out or Path("eval") / "compare")
        else:
            if not source or not model:
                raise click.UsageError("give DIR_OR_REPO and --model (or --compare A B)")
            if judge == "llm" and not judge_model:
                raise click.UsageError("--judge llm needs --judge-model NAME")
            settings = dict(temperature=temperature, max_tokens=max_tokens, seed=seed, concurrency=concurrency,
                            use_cache=not no_cache, retry_failed=retry_failed)
            generation = model_config(model, base_url, **settings)
            result = evaluate(source, out or Path("eval") / model.replace("/", "_"), generation, split=split,
                              config=config_name, revision=revision, system_prompt=system_prompt, judge=judge,
                              judge_model=judge_config(generation, judge_model, judge_base_url),
                              calibrate=not no_calibration, sources_dir=sources_dir, progress=not quiet)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _print_json(result.report)
    else:
        click.echo(_evaluation_summary(result, compare_mode=bool(compare_paths)))

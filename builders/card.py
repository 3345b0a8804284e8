"""The dataset card: ``cards/dataset_card.md`` filled from the build.

The YAML header is generated from the files actually written (configs,
features, split sizes) and parsed back with huggingface_hub before it is
returned, so a card that the Hub would reject fails the build instead.
"""

from __future__ import annotations

import re

import polars as pl
import yaml

from .errors import BuildError
from .resources import cards_dir
from .schema import SPLITS, TASKS
from .write import config_frames, shard_path

REPO_PLACEHOLDER = "ORG/NAME"

# Hub license identifiers for the licenses named in data/sources.toml.
HUB_LICENSES = {"MIT": "mit", "Apache-2.0": "apache-2.0", "BSD-3-Clause": "bsd-3-clause",
                "BSD-2-Clause": "bsd-2-clause"}


def _hub_license(text: str) -> str:
    return HUB_LICENSES.get(text.split(" ")[0], "other")


def size_category(n: int) -> str:
    """The Hub's size_categories label for n rows."""
    labels = ["n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
              "1B<n<10B", "10B<n<100B", "100B<n<1T"]
    for power, label in enumerate(labels, start=3):
        if n < 10**power:
            return label
    return "n>1T"


def _features(frame: pl.DataFrame) -> list:
    import datasets  # imported here: it is slow to import and only the card needs it

    return datasets.Features.from_arrow_schema(frame.head(0).to_arrow().schema)._to_yaml_list()


def front_matter(rows: pl.DataFrame, recipe, licenses: list[str], languages: list[str]) -> dict:
    configs, infos = [], []
    for config, frame in config_frames(rows).items():
        present = [s for s in SPLITS if frame.filter(pl.col("split") == s).height]
        entry = {"config_name": config, "data_files": [{"split": s, "path": shard_path(config, s)} for s in present]}
        if config == "default":
            entry["default"] = True
        configs.append(entry)
        data = frame.drop("split")
        infos.append({
            "config_name": config,
            "features": _features(data),
            "splits": [
                {"name": s, "num_bytes": int(data.filter(frame["split"] == s).estimated_size()),
                 "num_examples": int(frame.filter(pl.col("split") == s).height)}
                for s in present
            ],
        })
    tasks = set(rows["task"].unique().to_list())
    categories = ["text-generation"]
    if "classification" in tasks:
        categories.append("text-classification")
    if "translation" in tasks:
        categories.append("translation")
    if "summarization" in tasks:
        categories.append("summarization")
    return {
        "pretty_name": recipe.pretty_name,
        "license": sorted({_hub_license(text) for text in licenses}),
        "language": languages,
        "task_categories": categories,
        "size_categories": [size_category(rows.height)],
        "tags": ["safety", "refusal", "red-teaming", "multitask", "not-for-all-audiences"],
        "configs": configs,
        "dataset_info": infos,
    }


def _table(header: list[str], body: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in body]
    return "\n".join(lines)


def ratio_table(rows: pl.DataFrame) -> str:
    body = []
    for config, frame in config_frames(rows).items():
        harmful = frame.filter(pl.col("label") == "harmful").height
        benign = frame.height - harmful
        ratio = "harmful only" if not benign else "benign only" if not harmful else f"{harmful / benign:.2f} : 1"
        body.append([f"`{config}`", harmful, benign, ratio])
    return _table(["config", "harmful", "benign", "harmful : benign"], body)


def count_table(rows: pl.DataFrame) -> str:
    counts = rows.group_by("task", "label", "category", "split").len()
    body = []
    for task in TASKS:
        for (label, category), group in (
            counts.filter(pl.col("task") == task).sort("label", "category").group_by(["label", "category"],
                                                                                       maintain_order=True)
        ):
            per_split = dict(zip(group["split"], group["len"]))
            body.append([task, label, category] + [per_split.get(s, 0) for s in SPLITS]
                        + [sum(per_split.values())])
    return _table(["task", "label", "category", *SPLITS, "total"], body)


def source_table(sources: dict) -> str:
    body = [[f"`{name}`", entry["title"], entry["version"], entry["license"]] for name, entry in sorted(sources.items())]
    body.append(["`multitask-safety`", "templates, refusals, benign texts and answers written for this dataset",
                 "this repository", "MIT"])
    return _table(["source", "what", "version", "license"], body)


def review_section(review: dict, rows: pl.DataFrame) -> str:
    """How the seeds were judged, with counts per action, source and category."""
    if not review:
        return "This version has no seeds from harmful-request sets."
    per_source = review["per_source"]
    lines = [
        ("Every seed from a harmful-request set was read and given the response it deserves"
         if not review["unreviewed"] else "Seeds from harmful-request sets are read and given the response they deserve")
        + " (the review "
        f"lines are `data/review/<source>.csv` in the tool's repository, each keyed by the sha256 of the "
        f"request it judged). {review['reviewed']} seeds were reviewed by reading; {review['unreviewed']} "
        f"had no matching review line and were handled by rules (refuse, category from the source's label)"
        + (f", {review['changed']} of them because their upstream text changed since it was read" if
           review["changed"] else "") + ".",
        "",
        "The action says what the response does, after the response categories of Do-Not-Answer "
        "(Wang et al., 2023): `refuse` (the request seeks harm: decline, say what and why, redirect), "
        "`support` (the user is at risk: warm, names support, never a number), `refute` (a false premise or "
        "misinformation: correct it), `perspectives` (a contested opinion: balanced views), `cannot_know` "
        "(private or non-public facts: say so, point to the right channel), `answer` (benign: a careful, "
        "helpful answer). Only `refuse` and `support` rows are labeled `harmful`; the others are benign "
        "rows whose response does the right thing, so that a model learns where the line is. Seeds that "
        "could not be made into a good row were dropped with their reason (`audit/dropped.parquet`).",
        "",
    ]
    actions = sorted({k.split("/")[1] for k in review["by_source_action"]})
    body = [[f"`{source}`", counts["reviewed"], counts["unreviewed"]]
            + [review["by_source_action"].get(f"{source}/{a}", 0) for a in actions]
            + [counts.get("drop", 0)] for source, counts in sorted(per_source.items())]
    lines.append(_table(["source", "reviewed", "unreviewed", *actions, "dropped by review"], body))
    lines += ["", "Seeds kept per normalized category: "
              + ", ".join(f"`{c}` {n}" for c, n in review["by_category"].items()) + ".", ""]
    rendered = rows.filter(pl.col("subtype") != "upstream").group_by("action", "label").len().sort("action")
    lines.append("Rows per action: " + ", ".join(f"`{a}` ({label}) {n}" for a, label, n in rendered.iter_rows())
                 + ".")
    return "\n".join(lines)


def balance_section(figures: dict, language: dict, recipe) -> str:
    body = [[task, f["harmful"], f["benign"], f"{f['ratio']:.2f} : 1" if f["benign"] else "harmful only",
             f["wrapper_auc"], f["templates"], f["lowest_benign_share"]] for task, f in figures.items()]
    cfg = recipe.balance
    lines = [
        "Every prompt template carries harmful and benign rows, so the wrapper alone does not tell a model "
        "what to refuse. The *wrapper-label AUC* scores each row by the share of harmful rows among the rows "
        "of its template and measures how well that score predicts the label (0.5: not at all; 1.0: the "
        "template gives the label away). Benign rows in a form also include a few benign-only tasks "
        "(sentiment labels, document summaries); the authors' release rows are not counted.",
        "",
        _table(["form", "harmful", "benign", "harmful : benign", "wrapper AUC", "templates",
                "lowest benign share of a template in a split"], body),
        "",
        f"The build fails when a form's wrapper AUC exceeds {cfg.max_wrapper_auc}, when a template with harmful "
        f"rows has a benign share below {cfg.min_benign_share} in any split, or when harmful and benign rows "
        f"of a form differ by more than {cfg.max_label_ratio}:1.",
    ]
    if language.get("judged"):
        lines += ["", f"Responses are written in the language of the prompt's instruction (or the language a "
                      f"translation asks for). A language identifier (py3langid) checked {language['judged']} "
                      f"responses long enough to judge: {language['matched']} matched; the build fails on any "
                      "mismatch."]
    return "\n".join(lines)


def render_card(rows: pl.DataFrame, recipe, sources: dict, build_steps: str, taxonomy: dict,
                content: dict | None = None) -> str:
    content = content or {}
    licenses = [entry["license"] for entry in sources.values()] + ["MIT"]
    # English throughout, plus the languages of the sources that bring other text.
    languages = ["en", *sorted(set(rows["language"].unique().to_list()) - {"en"})]
    header = yaml.safe_dump(front_matter(rows, recipe, licenses, languages), sort_keys=False, allow_unicode=True,
                            width=100)
    slots = {
        "yaml": header.rstrip("\n"),
        "pretty_name": recipe.pretty_name,
        "summary": recipe.summary,
        "repo_id": REPO_PLACEHOLDER,
        "version": recipe.version,
        "config_list": ", ".join(f"`{c}`" for c in config_frames(rows)),
        "ratio_table": ratio_table(rows),
        "count_table": count_table(rows),
        "category_list": ", ".join(f"`{k}` ({v.lower()})" for k, v in taxonomy["categories"].items()),
        "build_steps": build_steps,
        "review_section": review_section(content.get("review") or {}, rows),
        "balance_section": balance_section(content.get("balance") or {}, content.get("language") or {}, recipe),
        "source_table": source_table(sources),
    }
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: slots[m.group(1)], (cards_dir() / "dataset_card.md").read_text("utf-8"))
    validate_card(text, rows)
    return text


def validate_card(text: str, rows: pl.DataFrame) -> None:
    """Parse the card back as the Hub client would and check it against the rows."""
    from huggingface_hub import DatasetCard

    try:
        card = DatasetCard(text)
    except Exception as exc:  # the client raises ValueError and yaml errors alike
        raise BuildError(f"the generated card does not parse: {exc}") from None
    data = card.data.to_dict()
    expected = {c: f.height for c, f in config_frames(rows).items()}
    declared = {info["config_name"]: sum(s["num_examples"] for s in info["splits"]) for info in data["dataset_info"]}
    if declared != expected:
        raise BuildError(f"card dataset_info {declared} disagrees with the rows {expected}")
    if {c["config_name"] for c in data["configs"]} != set(expected):
        raise BuildError("card configs disagree with the configs written")

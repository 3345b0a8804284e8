"""Publishing end to end: the real huggingface_hub and datasets clients against a local Hub.

The Hub double (tests/hubserver.py) runs in this process on 127.0.0.1.  The
publisher and the downstream ``load_dataset`` user run in subprocesses, so that
HF_ENDPOINT, HF_HUB_DISABLE_XET, HF_HOME and the token are set before either
client is imported, and every load starts from an empty cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from builders.cli import publish_dataset
from builders.errors import PublishError
from builders.publish import check_card, read_build, render_card
from hubserver import HubServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_test_publisher_token"
TASKS = ("direct", "summarization", "translation", "classification", "code")
SPLITS = ("train", "validation", "test")
MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})


# ---- a build folder shaped like build-dataset's output -----------------------------------------


def _rows(config: str, split: str, version: str) -> pl.DataFrame:
    """A few rows per config and split; v2 adds rows, drops one, and adds a column."""
    count = {"train": 3, "validation": 1, "test": 2}[split] + (1 if version == "v2" else 0)
    first = 1 if (version == "v2" and config == "code" and split == "train") else 0
    ids = [f"{config}-{split}-{i}" for i in range(first, count)]
    label = "benign" if config == "benign" else "harmful"
    prompts = [f"[{version}] {config} prompt {i}" for i in ids]
    responses = [f"[{version}] I can't help with that ({i})." if label == "harmful" else f"[{version}] answer {i}"
                 for i in ids]
    frame = pl.DataFrame({
        "id": ids, "prompt": prompts, "response": responses,
        "messages": [[{"role": "user", "content": p}, {"role": "assistant", "content": r}]
                     for p, r in zip(prompts, responses)],
        "task": ["direct" if config == "benign" else config] * len(ids),
        "label": [label] * len(ids),
        "marker": [version] * len(ids),
    }, schema_overrides={"messages": pl.List(MESSAGE)})
    if version == "v2":
        frame = frame.with_columns(pl.lit("request").alias("subtype"))
    return frame


def _features(frame: pl.DataFrame) -> list[dict]:
    out = []
    for name, dtype in frame.schema.items():
        if name == "messages":
            out.append({"name": name, "list": [{"name": "role", "dtype": "string"},
                                               {"name": "content", "dtype": "string"}]})
        else:
            out.append({"name": name, "dtype": "string"})
    return out


def make_build(root: Path, version: str, *, license: str = "mit", tweak: str = "") -> Path:
    """Write README.md, manifest.json, data/<config>/<split>-00000-of-00001.parquet and audit/."""
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for config in (*TASKS, "benign"):
        frames[config] = {s: _rows(config, s, version) for s in SPLITS}
    frames = {"default": {s: pl.concat([frames[c][s] for c in frames]) for s in SPLITS}, **frames}
    if tweak:  # same version, different content
        frames["translation"]["test"] = frames["translation"]["test"].with_columns(
            pl.col("prompt") + pl.lit(tweak))
    files, rows = {}, {}
    for config, splits in frames.items():
        rows[config] = {}
        for split, frame in splits.items():
            rel = f"data/{config}/{split}-00000-of-00001.parquet"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(root / rel)
            files[rel] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
            rows[config][split] = frame.height
    (root / "audit").mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": ["x-1"], "reason": ["duplicate"]}).write_parquet(root / "audit/dropped.parquet")
    files["audit/dropped.parquet"] = hashlib.sha256((root / "audit/dropped.parquet").read_bytes()).hexdigest()
    total = sum(rows["default"].values())
    meta = {
        "pretty_name": "Multitask Safety (test build)",
        "license": license,
        "language": ["en"],
        "task_categories": ["text-generation", "text-classification"],
        "size_categories": ["n<1K" if total < 1000 else "1K<n<10K"],
        "tags": ["safety", "refusal"],
        "configs": [{"config_name": c, "default": c == "default" or None,
                     "data_files": [{"split": s, "path": f"data/{c}/{s}-*.parquet"} for s in SPLITS]}
                    for c in frames],
        "dataset_info": [{"config_name": c, "features": _features(frames[c]["train"]),
                          "splits": [{"name": s, "num_examples": rows[c][s]} for s in SPLITS]}
                         for c in frames],
    }
    for config in meta["configs"]:
        if config["default"] is None:
            del config["default"]
    body = (f"# Multitask Safety {version}\n\n> Content warning: harmful requests, each paired with a "
            "refusal.\n\n## Dataset structure\n\nOne config per task form.\n\n<!-- changelog -->\n\n"
            "## License\n\nMIT.\n")
    (root / "README.md").write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body)
    manifest = {"version": version, "recipe_sha256": "0" * 64, "rows": rows, "files": files, "sources": {},
                "card_sha256": hashlib.sha256((root / "README.md").read_bytes()).hexdigest()}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return root


@pytest.fixture(scope="module")
def hub():
    with HubServer(tokens={TOKEN: "tester"}) as server:
        yield server


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("builds")
    return {"v1": make_build(base / "v1", "v1"), "v2": make_build(base / "v2", "v2"),
            "v2-edited": make_build(base / "v2-edited", "v2", tweak=" (edited)"),
            "bad-license": make_build(base / "bad-license", "v1", license="not-a-license")}


# ---- the real clients, in subprocesses ----------------------------------------------------------


def hf_env(home: Path, endpoint: str, token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONPATH=str(ROOT))
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run_cli(hub, tmp_path, *args, token: str | None = TOKEN, endpoint: str | None = None):
    home = tmp_path / f"home-{len(list(tmp_path.glob('home-*')))}"
    code = "from builders.cli import publish_dataset; publish_dataset(prog_name='publish-dataset')"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=hf_env(home, endpoint or hub.url, token), cwd=ROOT, timeout=120)


def publish_json(hub, tmp_path, build: Path, repo: str, *args) -> dict:
    proc = run_cli(hub, tmp_path, build, "--repo-id", repo, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


LOAD = textwrap.dedent("""
    import json, sys
    from datasets import load_dataset
    repo, config, revision = sys.argv[1:]
    ds = load_dataset(repo, None if config == "-" else config, revision=revision)
    print(json.dumps({split: ds[split].to_list() for split in ds}))
""")


def load_rows(hub, tmp_path, repo: str, config: str | None, revision: str) -> dict[str, list[dict]]:
    """load_dataset as a downstream user runs it, from a fresh HF_HOME."""
    home = tmp_path / f"load-{len(list(tmp_path.glob('load-*')))}"
    proc = subprocess.run([sys.executable, "-c", LOAD, repo, config or "-", revision], capture_output=True,
                          text=True, env=hf_env(home, hub.url), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def local_rows(build: Path, config: str) -> dict[str, list[dict]]:
    return {s: pl.read_parquet(build / f"data/{config}/{s}-00000-of-00001.parquet").to_dicts() for s in SPLITS}


def by_id(splits: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {s: sorted(json.loads(json.dumps(rows)), key=lambda r: r["id"]) for s, rows in splits.items()}


def hub_card(hub, repo: str, tag: str) -> str:
    state = hub.state
    commit = state.repo(repo).resolve(tag)
    return state.blobs[commit.files["README.md"].sha256].decode()


def card_yaml(card: str) -> dict:
    return yaml.safe_load(card.split("---\n", 2)[1])


# ---- tests ------------------------------------------------------------------------------------


def test_first_publish_commits_once_tags_that_commit_and_loads_back(hub, builds, tmp_path):
    repo = "acme/first"
    result = publish_json(hub, tmp_path, builds["v2"], repo)

    state = hub.state.repo(repo)
    assert result["changed"] and result["verified"] and result["tag"] == "v2"
    assert result["commit"] == state.tags["v2"] == state.branches["main"] == result["revision_sha"]
    assert hub.state.commit_count(repo) == 2  # the repo's initial commit + one publish commit
    assert state.commits[result["commit"]].parent is not None
    assert state.gated == "auto" and not state.private
    assert ("POST", "/api/validate-yaml", 200) in hub.state.log
    assert "manifest.json" in result["files"] and "audit/dropped.parquet" not in result["files"]
    assert sorted(state.commits[result["commit"]].files) == sorted([".gitattributes", *result["files"]])
    assert result["load_line"] == 'load_dataset("acme/first", "default", revision="v2")'

    card = hub_card(hub, repo, "v2")
    meta = card_yaml(card)
    assert meta["extra_gated_prompt"] and "checkbox" in meta["extra_gated_fields"].values()
    assert "Content warning" in card.split("---\n", 2)[2][:300]
    assert "First published version." in card

    assert by_id(load_rows(hub, tmp_path, repo, None, "v2")) == by_id(local_rows(builds["v2"], "default"))
    assert by_id(load_rows(hub, tmp_path, repo, "translation", "v2")) == by_id(
        local_rows(builds["v2"], "translation"))


def test_each_tag_loads_its_own_version_and_v2_card_has_changelog(hub, builds, tmp_path):
    repo = "acme/versions"
    first = publish_json(hub, tmp_path, builds["v1"], repo)
    second = publish_json(hub, tmp_path, builds["v2"], repo)

    state = hub.state.repo(repo)
    assert state.tags == {"v1": first["commit"], "v2": second["commit"]}
    assert state.branches["main"] == second["commit"]
    assert state.commits[second["commit"]].parent == first["commit"]
    assert second["previous_version"] == "v1"

    v1 = load_rows(hub, tmp_path, repo, "translation", "v1")
    v2 = load_rows(hub, tmp_path, repo, "translation", "v2")
    assert by_id(v1) == by_id(local_rows(builds["v1"], "translation"))
    assert by_id(v2) == by_id(local_rows(builds["v2"], "translation"))
    assert {r["marker"] for rows in v1.values() for r in rows} == {"v1"}

    card = hub_card(hub, repo, "v2")
    changes = card.split("<!-- changelog -->", 1)[1].split("## License")[0]
    assert "### v2" in changes and "Compared with `v1`" in changes
    assert "| translation | train | 3 | 4 | +1 | -0 |" in changes
    assert "| code | train | 3 | 3 | +1 | -1 |" in changes  # one row replaced: exact, from row ids
    assert "| default | validation | 6 | 12 | +6 | -0 |" in changes
    assert "column `subtype` added (`string`) in all configs" in changes
    assert "First published version." in hub_card(hub, repo, "v1")

    # An older, never-published version must not replace the newer one on main.
    older = run_cli(hub, tmp_path, make_build(tmp_path / "v0", "v0"), "--repo-id", repo)
    assert older.returncode != 0 and "already has the newer version v2" in older.stderr
    assert state.branches["main"] == second["commit"] and "v0" not in state.tags


def test_republishing_identical_content_makes_no_commit(hub, builds, tmp_path):
    repo = "acme/idempotent"
    first = publish_json(hub, tmp_path, builds["v1"], repo)
    commits = hub.state.commit_count(repo)

    again = run_cli(hub, tmp_path, builds["v1"], "--repo-id", repo)

    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout and 'revision="v1"' in again.stdout
    assert hub.state.commit_count(repo) == commits
    assert hub.state.repo(repo).tags == {"v1": first["commit"]}
    result = publish_json(hub, tmp_path, builds["v1"], repo)
    assert result["commit"] is None and result["changed"] is False and result["verified"]


def test_existing_tag_with_other_content_is_refused_unless_forced(hub, builds, tmp_path):
    repo = "acme/immutable"
    original = publish_json(hub, tmp_path, builds["v2"], repo)["commit"]

    refused = run_cli(hub, tmp_path, builds["v2-edited"], "--repo-id", repo)
    assert refused.returncode != 0
    assert "tag v2 already exists" in refused.stderr and "--force" in refused.stderr
    differing = "data/translation/test-00000-of-00001.parquet, manifest.json"
    # The differing files are named as local ones; files only the tag has would be listed apart.
    assert f"with different content: 2 local file(s) differ from the published ones ({differing})." in refused.stderr
    assert "only on the Hub" not in refused.stderr and "not in the build" not in refused.stderr
    assert hub.state.repo(repo).tags["v2"] == hub.state.repo(repo).branches["main"] == original

    forced = publish_json(hub, tmp_path, builds["v2-edited"], repo, "--force")
    assert forced["tag_moved_from"] == original and forced["commit"] != original
    assert forced["message"] == f"moved tag v2: {original} -> {forced['commit']}"
    assert hub.state.repo(repo).tags["v2"] == hub.state.repo(repo).branches["main"] == forced["commit"]
    rows = load_rows(hub, tmp_path, repo, "translation", "v2")
    assert by_id(rows) == by_id(local_rows(builds["v2-edited"], "translation"))


def test_rejected_or_missing_token_is_one_clear_error(hub, builds, tmp_path):
    bad = run_cli(hub, tmp_path, builds["v1"], "--repo-id", "acme/badtoken", token="hf_not_a_valid_token")
    assert bad.returncode != 0
    assert "rejected the token (401" in bad.stderr and "HF_TOKEN" in bad.stderr
    assert "hf_not_a_valid_token" not in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr

    missing = run_cli(hub, tmp_path, builds["v1"], "--repo-id", "acme/badtoken", token=None)
    assert missing.returncode != 0 and "no Hugging Face token found" in missing.stderr
    assert ("dataset", "acme/badtoken") not in hub.state.repos


def test_main_moved_since_the_head_was_read_is_refused_by_the_hub(hub, builds, tmp_path):
    repo = "acme/race"
    stale = publish_json(hub, tmp_path, builds["v1"], repo)["commit"]
    # Someone else pushes to main after our publisher read the head.
    other = textwrap.dedent(f"""
        from huggingface_hub import HfApi, CommitOperationAdd
        HfApi().create_commit("{repo}", [CommitOperationAdd("NOTES.md", b"notes")], commit_message="notes",
                              repo_type="dataset")
    """)
    subprocess.run([sys.executable, "-c", other], check=True, env=hf_env(tmp_path / "other", hub.url), timeout=60)
    moved = hub.state.repo(repo).branches["main"]
    script = textwrap.dedent(f"""
        from builders.errors import PublishError
        from builders.publish import publish
        try:
            publish({str(builds['v2'])!r}, "{repo}", parent_commit="{stale}", progress=False)
        except PublishError as err:
            raise SystemExit(f"PublishError: {{err}}")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=hf_env(tmp_path / "race", hub.url), cwd=ROOT, timeout=120)

    assert proc.returncode != 0
    assert "PublishError: main on acme/race moved while publishing" in proc.stderr
    assert ("POST", f"/api/datasets/{repo}/commit/main", 412) in hub.state.log
    assert hub.state.repo(repo).branches["main"] == moved
    assert "v2" not in hub.state.repo(repo).tags


def test_unreachable_hub_and_bad_repo_id_are_clear_errors(hub, builds, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = run_cli(hub, tmp_path, builds["v1"], "--repo-id", "acme/down", endpoint=closed)
    assert down.returncode != 0 and "cannot reach the Hub at " + closed in down.stderr
    assert "Traceback" not in down.stderr

    for repo_id in ("no-namespace", "acme/bad name", "a/b/c"):
        proc = run_cli(hub, tmp_path, builds["v1"], "--repo-id", repo_id)
        assert proc.returncode != 0 and f"bad repo id '{repo_id}'" in proc.stderr


def test_hub_validates_the_card_yaml_on_push(hub, builds, tmp_path):
    proc = run_cli(hub, tmp_path, builds["bad-license"], "--repo-id", "acme/badcard")
    assert proc.returncode != 0
    assert "the Hub rejected README.md" in proc.stderr and "not-a-license" in proc.stderr
    assert ("POST", "/api/validate-yaml", 400) in hub.state.log
    assert hub.state.commit_count("acme/badcard") == 1  # only the repo's initial commit


def test_no_gate_private_audit_and_no_manifest_options(hub, builds, tmp_path):
    repo = "acme/options"
    result = publish_json(hub, tmp_path, builds["v1"], repo, "--no-gate", "--private", "--include-audit",
                          "--no-manifest")
    state = hub.state.repo(repo)
    assert state.private and state.gated is False and result["gated"] is False
    assert "audit/dropped.parquet" in result["files"] and "manifest.json" not in result["files"]
    assert not any(key.startswith("extra_gated") for key in card_yaml(hub_card(hub, repo, "v1")))

    # v1 went out without manifest.json: the v2 changelog takes v1's row counts from its card.
    publish_json(hub, tmp_path, builds["v2"], repo, "--no-gate")
    assert "manifest.json" not in hub.state.repo(repo).resolve("v1").files
    assert "| translation | train | 3 | 4 | +1 | -0 |" in hub_card(hub, repo, "v2")


def test_card_is_checked_against_files_and_manifest_before_upload(builds, tmp_path):
    build = read_build(builds["v1"])
    card = render_card(build.readme, repo_id="acme/x", gate=True, changelog_md="## Changelog\n")
    check_card(card, build, gate=True)  # the fixture card is consistent

    broken = card.replace("num_examples: 3", "num_examples: 30", 1)
    with pytest.raises(PublishError, match=r"dataset_info '\w+' splits .* differ from manifest.json rows"):
        check_card(broken, build, gate=True)
    with pytest.raises(PublishError, match="'license' is missing"):
        check_card(card.replace("license: mit\n", ""), build, gate=True)
    with pytest.raises(PublishError, match="gating is on"):
        check_card(render_card(build.readme, repo_id="acme/x", gate=False, changelog_md=""), build, gate=True)

    # A split with no rows has no file: the manifest may still list it with 0.
    copy = make_build(tmp_path / "copy", "v1")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["rows"]["code"]["extra"] = 0
    (copy / "manifest.json").write_text(json.dumps(manifest))
    zero = read_build(copy)
    check_card(render_card(zero.readme, repo_id="acme/x", gate=True, changelog_md=""), zero, gate=True)

    (copy / "data/code/test-00000-of-00001.parquet").write_bytes(b"PAR1 corrupted")
    with pytest.raises(PublishError, match="does not match its sha256 in manifest.json"):
        read_build(copy)


def test_cli_help_documents_every_option():
    out = CliRunner().invoke(publish_dataset, ["--help"]).output
    assert "Example:" in out and "publish-dataset dist/v2 --repo-id" in out
    options = [p for p in publish_dataset.params if isinstance(p, click.Option)]
    assert len(options) == 8
    for option in options:
        assert option.help, f"--{option.name} has no help text"


def test_publishes_a_real_v1_build(hub, shared_sources, tmp_path):
    from builders.pipeline import build

    out = tmp_path / "dist-v1"
    build("v1", out=out, sources_dir=shared_sources, progress=False)
    repo = "acme/real-v1"

    result = publish_json(hub, tmp_path, out, repo)

    assert result["verified"] and result["tag"] == "v1"
    assert hub.state.repo(repo).tags["v1"] == result["commit"]
    card = hub_card(hub, repo, "v1")
    assert "ORG/NAME" not in card and f'load_dataset("{repo}", "translation", revision="v1")' in card
    assert card_yaml(card)["extra_gated_fields"]
    assert by_id(load_rows(hub, tmp_path, repo, "translation", "v1")) == by_id(local_rows(out, "translation"))
    again = publish_json(hub, tmp_path, out, repo)
    assert again["changed"] is False and again["commit"] is None


def test_build_dataset_push_to_hub_builds_then_publishes(hub, shared_sources, tmp_path):
    out, repo = tmp_path / "pushed-v1", "acme/pushed"
    code = "from builders.cli import build_dataset; build_dataset(prog_name='build-dataset')"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--version", "v1", "--sources", str(shared_sources), "--out", str(out),
         "--push-to-hub", repo, "--json", "--quiet"],
        capture_output=True, text=True, env=hf_env(tmp_path / "home", hub.url), cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["publish"]["tag"] == "v1" and summary["publish"]["verified"]
    assert hub.state.repo(repo).tags["v1"] == summary["publish"]["commit"]
    assert by_id(load_rows(hub, tmp_path, repo, "code", "v1")) == by_id(local_rows(out, "code"))

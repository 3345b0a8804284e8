"""Publish a built dataset folder to the Hugging Face Hub as one tagged version.

``publish()`` uploads the folder written by ``build-dataset`` in a single
commit on ``main`` (guarded by the head it read, so a concurrent push is
refused rather than overwritten), tags exactly that commit with the version
from ``manifest.json``, and reads everything back to check it.  ``main``
always holds the latest published version; older versions stay reachable by
their tags.  Re-publishing identical content makes no commit.

Only the files ``manifest.json`` lists are sent, plus the manifest and the card, each
checked by sha256; a folder holding anything else, a symbolic link, or a card
edited after the build is refused before the Hub is asked anything.

Before anything leaves the machine the card is completed (the repo id, gating terms, a
content warning, a changelog against the previous published version) and
checked against the files and the manifest.  The token comes from ``HF_TOKEN``
or the ``hf auth login`` store and is never printed or written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import click
import pyarrow.parquet as pq
import yaml
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    DatasetCard,
    HfApi,
    HfFileSystem,
    constants,
    get_token,
)
from huggingface_hub.errors import HFValidationError, HfHubHTTPError
from huggingface_hub.utils import (
    are_progress_bars_disabled,
    disable_progress_bars,
    enable_progress_bars,
    validate_repo_id,
)

from builders import changelog, outdir
from builders.card import REPO_PLACEHOLDER, size_category
from builders.errors import PublishError
from builders.recipe import version_problem

try:  # huggingface_hub >= 1.0 talks HTTP through httpx2
    from httpx2 import ConnectError as _ConnectError
    from httpx2 import ConnectTimeout as _ConnectTimeout
    from httpx2 import TransportError as _TransportError

    NETWORK_ERRORS: tuple[type[BaseException], ...] = (_TransportError, ConnectionError, TimeoutError)
    _CONNECT_ERRORS: tuple[type[BaseException], ...] = (_ConnectError, _ConnectTimeout, ConnectionRefusedError)
except ImportError:  # pragma: no cover - older clients use requests
    NETWORK_ERRORS = (ConnectionError, TimeoutError)
    _CONNECT_ERRORS = (ConnectionRefusedError,)

REPO_TYPE = "dataset"
CHANGELOG_MARKER = "<!-- changelog -->"
REQUIRED_CARD_FIELDS = ("license", "language", "task_categories", "size_categories", "pretty_name",
                        "configs", "dataset_info")
GATE_PROMPT = (
    "This dataset contains harmful requests, each paired with a refusal, collected for AI safety "
    "research. Access is granted automatically once you agree to the terms below: use the data "
    "only to build, evaluate or study safer models, and never to produce or spread harmful content."
)
GATE_FIELDS = {
    "Name": "text",
    "Affiliation": "text",
    "Intended use": "text",
    "I will use this dataset only for AI safety research and will not use it to produce or spread "
    "harmful content": "checkbox",
}
CONTENT_WARNING = (
    "> **Content warning:** this dataset contains requests for harmful content (violence, weapons, "
    "crime, hate, self-harm and more). It contains no harmful answers: every harmful request is "
    "paired with a refusal."
)


@dataclass
class PublishResult:
    repo_id: str
    version: str
    url: str
    tag: str
    commit: str | None  # the new commit on main; None when nothing had to be committed
    revision_sha: str  # the commit the tag points at
    changed: bool  # a commit was made or the tag was created or moved
    message: str  # one line for humans: what happened
    created_repo: bool
    previous_version: str | None
    tag_moved_from: str | None
    gated: bool
    files: list[str]  # every published path at the tag (besides .gitattributes)
    uploaded: list[str]  # paths added or changed by the commit
    deleted: list[str]  # paths the commit removed from main
    configs: list[str]
    load_line: str  # the load_dataset(...) call users should run
    verified: bool
    changelog: str = field(repr=False, default="")

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


# ---- the build folder ------------------------------------------------------------------------


@dataclass
class LocalFile:
    path: Path
    size: int
    sha256: str
    git_oid: str  # what the Hub calls the blob id of a regular (non-LFS) file

    @classmethod
    def of(cls, path: Path) -> "LocalFile":
        return cls.from_bytes(path.read_bytes(), path) if path.stat().st_size < 1 << 24 else cls._stream(path)

    @classmethod
    def from_bytes(cls, content: bytes, path: Path | None = None) -> "LocalFile":
        git = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        return cls(path or Path(), len(content), hashlib.sha256(content).hexdigest(), git)

    @classmethod
    def _stream(cls, path: Path) -> "LocalFile":
        size = path.stat().st_size
        sha256, git = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha256.update(block)
                git.update(block)
        return cls(path, size, sha256.hexdigest(), git.hexdigest())


@dataclass
class Build:
    root: Path
    manifest: dict
    readme: str
    files: dict[str, LocalFile]  # repo path -> file, README.md excluded (it is rendered)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def rows(self) -> dict[str, dict[str, int]]:
        """Rows per config and split; a split with no rows has no file, so it is left out."""
        return {config: {split: n for split, n in splits.items() if n}
                for config, splits in self.manifest["rows"].items()}

    @property
    def data_files(self) -> list[str]:
        return sorted(p for p in self.files if changelog.data_file_key(p))


def read_build(build_dir: Path, *, include_manifest: bool = True, include_audit: bool = False) -> Build:
    """The files to publish, each checked against ``manifest.json``.

    Exactly the files the manifest lists are published (``audit/`` only when
    asked), plus the manifest and the card.  The folder must hold nothing else
    and no symbolic link at all, and every file, the card included, must match
    its sha256: a folder edited after the build is refused, naming the file.
    """
    root = Path(build_dir)
    for name in ("manifest.json", "README.md"):
        if (root / name).is_symlink():
            raise PublishError(f"{root / name} is a symbolic link; only the build's own files are published. "
                               "Run build-dataset to write the folder again.")
    manifest = _read_manifest(root)
    problems, local = _folder_problems(root, manifest)
    readme_path = root / "README.md"
    if not readme_path.is_file():
        problems.append("README.md (the card) is missing")
    elif not isinstance(manifest.get("card_sha256"), str):
        problems.append("manifest.json has no card_sha256 for README.md (the card)")
    elif LocalFile.of(readme_path).sha256 != manifest["card_sha256"]:
        problems.append("README.md (the card) does not match card_sha256 in manifest.json: it was edited after "
                        "the build; change the card template instead and rebuild")
    if problems:
        raise _inconsistent(root, problems)
    files = {rel: f for rel, f in sorted(local.items()) if include_audit or not rel.startswith("audit/")}
    if include_manifest:
        files["manifest.json"] = LocalFile.of(root / "manifest.json")
    build = Build(root, manifest, readme_path.read_text(encoding="utf-8"), files)
    _check_against_manifest(build)
    return build


def _inconsistent(root: Path, problems: list[str]) -> PublishError:
    return PublishError(f"{root} is not a consistent build (run build-dataset again):\n- " + "\n- ".join(problems))


def _folder_problems(root: Path, manifest: dict) -> tuple[list[str], dict[str, LocalFile]]:
    """Links, files the manifest does not list, and listed files that are missing or changed;
    and the listed files that are fine, hashed once."""
    problems, local = [], {}
    listed = {}
    for rel, sha in sorted(manifest["files"].items()):
        if _inside_build(rel):
            listed[rel] = sha
        else:
            problems.append(f"manifest.json lists {rel!r}, which is not a data/ or audit/ file of the build")
    for rel in outdir.foreign_entries(root, {"files": listed}):
        if (root / rel).is_symlink():
            problems.append(f"{rel} is a symbolic link; links are never published: remove it")
        else:
            problems.append(f"{rel} is not part of the build (manifest.json does not list it): move it out "
                            "of the folder")
    for rel, sha in listed.items():
        path = root / rel
        if any((root / parent).is_symlink() for parent in Path(rel).parents):
            continue  # the link is reported above; never read through it
        if path.is_symlink():
            continue
        if not path.is_file():
            problems.append(f"{rel} is listed in manifest.json but missing")
            continue
        local[rel] = LocalFile.of(path)
        if local[rel].sha256 != sha:
            problems.append(f"{rel} does not match its sha256 in manifest.json")
    return problems, local


def _inside_build(rel: object) -> bool:
    """A manifest path names a file under data/ or audit/, never anything outside the folder."""
    if not isinstance(rel, str) or "\\" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    return parts[0] in ("data", "audit") and len(parts) > 1 and all(p not in ("", ".", "..") for p in parts)


def _read_manifest(root: Path) -> dict:
    path = root / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishError(f"{root} has no manifest.json: is it a folder written by build-dataset?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PublishError(f"{path} is not valid JSON ({err}): run build-dataset again") from None
    if not isinstance(manifest, dict):
        raise PublishError(f"{path} is not a JSON object: run build-dataset again")
    problem = version_problem(manifest.get("version"))
    if problem:
        raise PublishError(f"{path}: 'version' cannot be a tag on the Hub: {problem}. Build under a valid version.")
    for key in ("rows", "files"):
        if not isinstance(manifest.get(key), dict):
            raise PublishError(f"{path}: '{key}' is missing or not a mapping: run build-dataset again")
    return manifest


def _check_against_manifest(build: Build) -> None:
    """The Parquet files hold the rows the manifest counts."""
    problems = []
    counted: dict[str, dict[str, int]] = {}
    for rel in build.data_files:
        config, split = changelog.data_file_key(rel)
        split_rows = counted.setdefault(config, {})
        try:
            split_rows[split] = split_rows.get(split, 0) + pq.read_metadata(build.files[rel].path).num_rows
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            problems.append(f"{rel} is not a readable Parquet file ({err})")
    if counted != build.rows and not problems:
        problems.append(f"row counts in the Parquet files {counted} differ from manifest.json rows {build.rows}")
    if not build.data_files:
        problems.append("there are no data/<config>/<split>-*.parquet files")
    if problems:
        raise _inconsistent(build.root, problems)


# ---- the card --------------------------------------------------------------------------------


def render_card(readme: str, *, repo_id: str, gate: bool, changelog_md: str) -> str:
    """The README as published: the repo id, gating terms, a content warning on top, the changelog."""
    try:
        card = DatasetCard(readme)
    except (yaml.YAMLError, ValueError) as err:
        raise PublishError(f"README.md front matter is not valid YAML: {err}") from None
    if gate:
        if "extra_gated_prompt" not in card.data:
            card.data["extra_gated_prompt"] = GATE_PROMPT
        if "extra_gated_fields" not in card.data:
            card.data["extra_gated_fields"] = dict(GATE_FIELDS)
    else:
        for key in [k for k in card.data.to_dict() if k.startswith("extra_gated_")]:
            card.data.pop(key)
    body = card.text.replace(REPO_PLACEHOLDER, repo_id)
    if "warning" not in body[:1500].lower():
        title = re.match(r"\s*# .*\n", body)
        cut = title.end() if title else 0
        body = f"{body[:cut]}\n{CONTENT_WARNING}\n\n{body[cut:].lstrip()}"
    if CHANGELOG_MARKER in body:
        body = body.replace(CHANGELOG_MARKER, f"{CHANGELOG_MARKER}\n{changelog_md}", 1)
    else:
        body = body.rstrip("\n") + f"\n\n{CHANGELOG_MARKER}\n{changelog_md}"
    card.text = body
    return str(card)


def check_card(card_text: str, build: Build, *, gate: bool) -> None:
    """Parse the card back and check it against the files and the manifest row counts."""
    try:
        data = DatasetCard(card_text).data.to_dict()
    except (yaml.YAMLError, ValueError) as err:
        raise PublishError(f"the dataset card does not parse back: {err}") from None
    problems = [f"'{key}' is missing" for key in REQUIRED_CARD_FIELDS if not data.get(key)]
    if gate and not (data.get("extra_gated_prompt") and data.get("extra_gated_fields")):
        problems.append("gating is on but extra_gated_prompt / extra_gated_fields are missing")
    problems += _check_configs(data.get("configs") or [], build)
    problems += _check_dataset_info(data.get("dataset_info") or [], build)
    if data.get("size_categories"):
        total = sum(build.rows.get("default", {}).values()) or sum(
            n for splits in build.rows.values() for n in splits.values())
        expected = size_category(total)
        given = data["size_categories"]
        given = given if isinstance(given, list) else [given]
        if expected not in given:
            problems.append(f"size_categories is {given} but the dataset has {total} rows ({expected})")
    if problems:
        raise PublishError("README.md is not ready to publish; fix the card template or rebuild:\n- "
                           + "\n- ".join(problems))


def _check_configs(configs: list, build: Build) -> list[str]:
    problems, matched = [], set()
    names = [c.get("config_name") for c in configs if isinstance(c, dict)]
    if len(names) != len(configs) or len(set(names)) != len(names):
        problems.append("configs must be a list of mappings with unique config_name")
    if set(names) != set(build.rows):
        problems.append(f"configs {sorted(map(str, names))} differ from manifest.json configs {sorted(build.rows)}")
    for config in (c for c in configs if isinstance(c, dict)):
        name, data_files = config.get("config_name"), config.get("data_files")
        if isinstance(data_files, (str, dict)):
            data_files = [data_files]
        entries = [e if isinstance(e, dict) else {"split": "train", "path": e} for e in data_files or []]
        splits = set()
        for entry in entries:
            patterns = entry.get("path")
            patterns = patterns if isinstance(patterns, list) else [patterns]
            for pattern in patterns:
                hits = [p for p in build.data_files if isinstance(pattern, str) and fnmatch(p, pattern)]
                if not hits:
                    problems.append(f"config '{name}' split '{entry.get('split')}': no file matches {pattern!r}")
                matched.update(hits)
            splits.add(entry.get("split"))
        if name in build.rows and splits != set(build.rows[name]):
            problems.append(f"config '{name}' lists splits {sorted(map(str, splits))}, "
                            f"manifest.json has {sorted(build.rows[name])}")
    for path in sorted(set(build.data_files) - matched):
        problems.append(f"{path} is not referenced by any config's data_files")
    return problems


def _check_dataset_info(infos, build: Build) -> list[str]:
    infos = [infos] if isinstance(infos, dict) else infos
    by_config = {i.get("config_name", "default"): i for i in infos if isinstance(i, dict)}
    problems = []
    for config, splits in sorted(build.rows.items()):
        info = by_config.get(config)
        if info is None:
            problems.append(f"dataset_info has no entry for config '{config}'")
            continue
        declared = {s.get("name"): s.get("num_examples") for s in info.get("splits") or []}
        if declared != splits:
            problems.append(f"dataset_info '{config}' splits {declared} differ from manifest.json rows {splits}")
        features = info.get("features")
        if features:
            names = {f.get("name") for f in features if isinstance(f, dict)}
            columns = set()
            for path in build.data_files:
                if changelog.data_file_key(path)[0] == config:
                    columns |= set(pq.read_schema(build.files[path].path).names)
            if names != columns:
                problems.append(f"dataset_info '{config}' features {sorted(map(str, names))} "
                                f"differ from the Parquet columns {sorted(columns)}")
    for config in sorted(set(by_config) - set(build.rows)):
        problems.append(f"dataset_info describes config '{config}', which has no files")
    return problems


# ---- talking to the Hub ----------------------------------------------------------------------


@contextlib.contextmanager
def _hub_errors(repo_id: str):
    """Turn client and network failures into one PublishError that says what to do."""
    try:
        yield
    except PublishError:
        raise
    except Exception as err:
        cause = _hub_cause(err)
        if cause is None:
            raise
        raise _hub_error(cause, repo_id) from None


def _hub_cause(err: BaseException) -> BaseException | None:
    """The HTTP or network error behind ``err``: the client wraps a failed upload in a
    RuntimeError ("Error while uploading ..."), with the real failure as its cause."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, (HfHubHTTPError, *NETWORK_ERRORS)):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _hub_error(err: BaseException, repo_id: str) -> PublishError:
    endpoint = constants.ENDPOINT
    again = ("A Hub commit is applied whole or not at all, so publishing again finishes what is missing "
             "and changes nothing that is already there.")
    if not isinstance(err, HfHubHTTPError):
        if _CONNECT_ERRORS and isinstance(err, _CONNECT_ERRORS):
            return PublishError(f"cannot reach the Hub at {endpoint} ({err}). Check the network connection, "
                                "proxy settings or HF_ENDPOINT, then retry.")
        return PublishError(f"the connection to the Hub at {endpoint} broke while publishing {repo_id} "
                            f"({err or type(err).__name__}). {again}")
    status = err.response.status_code if err.response is not None else None
    server_says = (err.server_message or "").strip()
    if status == 401:
        return PublishError(
            f"the Hub at {endpoint} rejected the token (401 Unauthorized). Set HF_TOKEN to a valid "
            "token with write access, or run `hf auth login`.")
    if status == 403:
        return PublishError(f"the token may not write to {repo_id} (403 Forbidden): use a token with "
                            f"write access to the '{repo_id.split('/')[0]}' namespace.")
    if status == 404:
        return PublishError(f"the Hub answered 404 Not Found for {repo_id}: {server_says or err}. "
                            "Check the repo id.")
    if status == 412:
        return PublishError(
            f"main on {repo_id} moved while publishing (someone else pushed a commit), so nothing "
            "was committed. Run the publish again to publish on top of the new head.")
    if status is not None and status >= 500:
        return PublishError(f"the Hub at {endpoint} failed with a server error ({status}) while publishing "
                            f"{repo_id}: {server_says or err}. Nothing is wrong on your side: publish again "
                            "later; that finishes what is missing and changes nothing that is already there.")
    return PublishError(f"the Hub refused a request for {repo_id} ({status}): {server_says or err}.")


def check_repo_id(repo_id: str) -> None:
    try:
        validate_repo_id(repo_id)
        ok = repo_id.count("/") == 1 and all(repo_id.split("/"))
    except HFValidationError:
        ok = False
    if not ok:
        raise PublishError(f"bad repo id {repo_id!r}: use ORG/NAME, e.g. my-org/multitask-safety "
                           "(letters, digits, '-', '_' and '.').")


def _resolve_token(token: str | None) -> str:
    token = token or get_token()
    if not token:
        raise PublishError("no Hugging Face token found: set HF_TOKEN to a token with write access, "
                           "or run `hf auth login`.")
    return token


def check_access(repo_id: str, token: str | None = None) -> None:
    """Before a build that will be published: the repo id is valid and the Hub accepts the token."""
    check_repo_id(repo_id)
    token = _resolve_token(token)
    with _hub_errors(repo_id):
        HfApi(token=token).whoami()


def _version_key(tag: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", tag) if p)


def _remote_files(api: HfApi, repo_id: str, sha: str) -> dict[str, tuple[str, str | None]]:
    """path -> (git blob id, LFS sha256 or None) at a commit."""
    out = {}
    for item in api.list_repo_tree(repo_id, repo_type=REPO_TYPE, revision=sha, recursive=True):
        if hasattr(item, "blob_id"):
            out[item.path] = (item.blob_id, item.lfs.sha256 if item.lfs else None)
    return out


def _same(local: LocalFile, remote: tuple[str, str | None] | None) -> bool:
    if remote is None:
        return False
    git_oid, sha256 = remote
    return sha256 == local.sha256 if sha256 else git_oid == local.git_oid


def _previous_snapshot(api: HfApi, repo_id: str, tag: str, sha: str, token: str) -> changelog.Snapshot:
    """Rows, column types and row ids of a published version, read at its commit."""
    remote = _remote_files(api, repo_id, sha)
    fs = HfFileSystem(token=token, skip_instance_cache=True)
    base = f"datasets/{repo_id}@{sha}"
    rows = None
    if "manifest.json" in remote:
        rows = json.loads(fs.read_text(f"{base}/manifest.json", encoding="utf-8")).get("rows")
    if rows is None and "README.md" in remote:  # published without its manifest: trust the card
        infos = DatasetCard(fs.read_text(f"{base}/README.md", encoding="utf-8")).data.get("dataset_info") or []
        infos = [infos] if isinstance(infos, dict) else infos
        rows = {i.get("config_name", "default"): {s["name"]: s["num_examples"] for s in i.get("splits", [])}
                for i in infos}
    return changelog.snapshot(tag, rows or {}, remote, lambda p: fs.open(f"{base}/{p}", "rb"))


def _load_line(repo_id: str, config: str, version: str) -> str:
    return f'load_dataset("{repo_id}", "{config}", revision="{version}")'


def publish(
    build_dir: Path,
    repo_id: str,
    *,
    private: bool = False,
    gate: bool = True,
    force: bool = False,
    include_manifest: bool = True,
    include_audit: bool = False,
    token: str | None = None,
    progress: bool = True,
    parent_commit: str | None = None,
) -> PublishResult:
    """Publish ``build_dir`` to the dataset repo ``repo_id`` and tag it with the manifest version.

    ``parent_commit`` overrides the head of ``main`` the commit is guarded by; the
    Hub refuses the commit (412) if ``main`` is no longer there.
    """
    check_repo_id(repo_id)
    build = read_build(Path(build_dir), include_manifest=include_manifest, include_audit=include_audit)
    token = _resolve_token(token)
    say = (lambda msg: click.echo(msg, err=True)) if progress else (lambda msg: None)
    bars_were_off = are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    try:
        with _hub_errors(repo_id):
            return _publish(HfApi(token=token), build, repo_id, token=token, private=private, gate=gate,
                            force=force, parent_commit=parent_commit, say=say)
    finally:
        if not progress and not bars_were_off:
            enable_progress_bars()


def _publish(api: HfApi, build: Build, repo_id: str, *, token: str, private: bool, gate: bool,
             force: bool, parent_commit: str | None, say) -> PublishResult:
    version = build.version
    api.whoami()  # fail early, before any upload, on a missing or rejected token
    created = not api.repo_exists(repo_id, repo_type=REPO_TYPE)
    url = str(api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True))
    if created:
        say(f"created {'private' if private else 'public'} dataset repo {repo_id}")
    refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    head = next(b.target_commit for b in refs.branches if b.name == "main")
    tags = {t.name: t.target_commit for t in refs.tags}
    newer = [t for t in tags if _version_key(t) > _version_key(version)]
    if newer and version not in tags and not force:
        raise PublishError(f"{repo_id} already has the newer version {max(newer, key=_version_key)}; publishing "
                           f"{version} would put an older version on main. Pass --force if that is intended.")

    older = [t for t in tags if _version_key(t) < _version_key(version)]
    previous = max(older, key=_version_key) if older else None
    say(f"comparing with {previous}" if previous else "no earlier version: first changelog entry")
    new = changelog.snapshot(version, build.rows, build.data_files, lambda p: build.files[p].path.open("rb"))
    old = _previous_snapshot(api, repo_id, previous, tags[previous], token) if previous else None
    changes = changelog.render(changelog.compare(old, new))
    card = render_card(build.readme, repo_id=repo_id, gate=gate, changelog_md=changes)
    check_card(card, build, gate=gate)
    upload = {**build.files, "README.md": LocalFile.from_bytes(card.encode("utf-8"), Path("README.md"))}
    configs = sorted(build.rows)
    result = functools.partial(
        PublishResult, repo_id=repo_id, version=version, url=url, tag=version, created_repo=created,
        previous_version=previous, gated=gate, files=sorted(upload), configs=configs, changelog=changes,
        load_line=_load_line(repo_id, "default" if "default" in configs else configs[0], version), verified=False)

    if version in tags:
        changed, gone = _differences(upload, _remote_files(api, repo_id, tags[version]))
        if not (changed or gone):
            say(f"{version} is already published with identical content at {tags[version][:7]}")
            _apply_gate(api, repo_id, gate)
            out = result(commit=None, revision_sha=tags[version], changed=False, tag_moved_from=None,
                         uploaded=[], deleted=[], message=f"no changes: {version} is already published at "
                                                          f"{tags[version]}")
            return _verify(api, build, out, card.encode("utf-8"), upload, say)
        if not force:
            raise PublishError(
                f"tag {version} already exists on {repo_id} at {tags[version]} with different content: "
                f"{_differ(changed, gone)}. Published versions are immutable: bump the version, or pass "
                f"--force to move tag {version} to a new commit.")

    changed, gone = _differences(upload, _remote_files(api, repo_id, head))
    commit_oid = None
    if changed or gone:
        say(f"committing {len(changed)} changed file(s) and {len(gone)} deletion(s) on top of {head[:7]}")
        commit_oid = _commit(api, repo_id, version, upload, card, changed, gone, parent=parent_commit or head)
    target = commit_oid or head
    moved_from = _place_tag(api, repo_id, version, target, tags.get(version), say)
    _apply_gate(api, repo_id, gate)

    if moved_from:
        message = f"moved tag {version}: {moved_from} -> {target}"
    elif commit_oid:
        message = f"published {version} as commit {commit_oid}"
    else:
        message = f"tagged the existing head {target} as {version} (main already held this content)"
    out = result(commit=commit_oid, revision_sha=target, changed=True, tag_moved_from=moved_from,
                 uploaded=changed, deleted=gone, message=message)
    return _verify(api, build, out, card.encode("utf-8"), upload, say)


def _commit(api: HfApi, repo_id: str, version: str, upload: dict[str, LocalFile], card: str,
            changed: list[str], gone: list[str], *, parent: str) -> str:
    """One commit on main with every change, refused by the Hub (412) if main is no longer ``parent``."""
    operations = [
        CommitOperationAdd(path_in_repo=path,
                           path_or_fileobj=card.encode("utf-8") if path == "README.md" else str(upload[path].path))
        for path in changed
    ] + [CommitOperationDelete(path_in_repo=path) for path in gone]
    try:
        info = api.create_commit(repo_id, operations, commit_message=f"Publish {version}",
                                 commit_description=f"Dataset version {version}; files and row counts in "
                                                    "manifest.json.",
                                 repo_type=REPO_TYPE, revision="main", parent_commit=parent)
    except ValueError as err:
        if "README.md" not in str(err):  # not the Hub's validate-yaml verdict: a bug, keep the traceback
            raise
        raise PublishError(f"the Hub rejected README.md: {err}. Fix the card template and rebuild.") from None
    return info.oid


def _place_tag(api: HfApi, repo_id: str, version: str, target: str, existing: str | None, say) -> str | None:
    """Tag ``target``; an existing tag elsewhere is moved (the caller checked --force). Returns its old commit."""
    if existing == target:
        return None
    if existing is not None:
        say(f"--force: moving tag {version}: {existing} -> {target}")
        api.delete_tag(repo_id, tag=version, repo_type=REPO_TYPE)
    api.create_tag(repo_id, tag=version, revision=target, tag_message=f"Dataset version {version}",
                   repo_type=REPO_TYPE)
    return existing


def _some(paths: list[str], shown: int = 3) -> str:
    data_first = sorted(paths, key=lambda p: (not p.startswith("data/"), p))
    return ", ".join(data_first[:shown]) + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def _differ(changed: list[str], gone: list[str]) -> str:
    """Which local files differ from the tag's, and which files only the tag has, listed apart."""
    parts = []
    if changed:
        parts.append(f"{len(changed)} local file(s) differ from the published ones ({_some(changed)})")
    if gone:
        parts.append(f"{len(gone)} published file(s) are not in the build ({_some(gone)})")
    return " and ".join(parts)


def _differences(upload: dict[str, LocalFile], remote: dict) -> tuple[list[str], list[str]]:
    """(paths to add or replace, paths on the Hub to delete); .gitattributes is the Hub's own."""
    changed = sorted(p for p, f in upload.items() if not _same(f, remote.get(p)))
    gone = sorted(p for p in remote if p not in upload and p != ".gitattributes")
    return changed, gone


def _apply_gate(api: HfApi, repo_id: str, gate: bool) -> None:
    api.update_repo_settings(repo_id, gated="auto" if gate else False, repo_type=REPO_TYPE)


def _verify(api: HfApi, build: Build, out: PublishResult, card: bytes, upload: dict[str, LocalFile],
            say) -> PublishResult:
    """Read the version back from the Hub: the tag, the card at the tag, every file hash."""
    problems = []
    tags = {t.name: t.target_commit for t in api.list_repo_refs(out.repo_id, repo_type=REPO_TYPE).tags}
    if tags.get(out.tag) != out.revision_sha:
        problems.append(f"tag {out.tag} points at {tags.get(out.tag)}, expected {out.revision_sha}")
    with tempfile.TemporaryDirectory() as cache:
        readme = Path(api.hf_hub_download(out.repo_id, "README.md", repo_type=REPO_TYPE, revision=out.tag,
                                          cache_dir=cache)).read_bytes()
    if readme != card:
        problems.append(f"README.md at {out.tag} is not the card that was published")
    remote = _remote_files(api, out.repo_id, out.revision_sha)
    changed, extra = _differences(upload, remote)
    problems += [f"{p} at {out.tag} does not match the local file" for p in changed]
    problems += [f"{p} at {out.tag} is not part of the build" for p in extra]
    for path, sha in sorted(build.manifest["files"].items()):
        if path in upload and (remote.get(path) or (None, None))[1] not in (sha, None):
            problems.append(f"{path} at {out.tag} does not match its sha256 in manifest.json")
    if problems:
        raise PublishError(f"verification of {out.repo_id}@{out.tag} failed:\n- " + "\n- ".join(problems))
    say(f"verified {out.repo_id}@{out.tag}: tag -> {out.revision_sha[:7]}, card and {len(upload)} file hashes match")
    out.verified = True
    return out


# ---- what the command line prints ----------------------------------------------------------------------------


def summary(result: PublishResult) -> str:
    lines = [f"{result.repo_id}@{result.version}: {result.message}"]
    if result.changed:
        lines.append(f"  files: {len(result.files)} published, {len(result.uploaded)} uploaded, "
                     f"{len(result.deleted)} deleted from main")
        lines.append(f"  changelog: against {result.previous_version}" if result.previous_version
                     else "  changelog: first published version")
    lines.append(f"  gated: {'yes (access requests approved automatically)' if result.gated else 'no'}")
    lines.append(f"  verified: tag {result.tag} -> {result.revision_sha}, card and file hashes match")
    lines.append(f"  configs: {', '.join(result.configs)}")
    lines.append("Load it with:")
    lines.append("  from datasets import load_dataset")
    lines.append(f"  {result.load_line}")
    return "\n".join(lines)

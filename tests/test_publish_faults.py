"""Publishing refuses anything but the build's own files and survives a Hub that fails.

Same set-up as test_publish.py: the real clients in subprocesses against the local Hub
double, which can be told to drop a connection halfway through a request body or to
answer with an error status (``HubState.fail``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from builders import publish as publishing
from builders.cli import build_dataset, publish_dataset
from builders.errors import PublishError
from builders.publish import read_build
from hubserver import HubServer
from test_publish import TOKEN, hf_env, make_build, run_cli
from tiny_sources import data_dir_with_tiny_recipe, write_sources

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hub():
    with HubServer(tokens={TOKEN: "tester"}) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_faults_left(hub):
    yield
    hub.state.faults.clear()


def hub_requests(hub) -> int:
    return len(hub.state.log)


def no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("Error: ") == 1, proc.stderr


# ---- 2. only the build's own files, never through a link ----------------------------------


def test_stray_files_and_links_are_refused_before_anything_is_sent(hub, tmp_path):
    build = make_build(tmp_path / "v1", "v1")
    secret = tmp_path / "hf-token"
    secret.write_text("hf_real_secret_token")
    (build / "NOTES.txt").write_text("my notes")
    (build / "token").symlink_to(secret)
    (build / "data" / "extra.txt").symlink_to("/etc/passwd")
    requests = hub_requests(hub)

    proc = run_cli(hub, tmp_path, build, "--repo-id", "acme/leak", "--no-progress")

    assert proc.returncode == 1
    no_traceback(proc)
    assert f"{build} is not a consistent build" in proc.stderr
    assert "- NOTES.txt is not part of the build (manifest.json does not list it)" in proc.stderr
    assert "- token is a symbolic link; links are never published" in proc.stderr
    assert "- data/extra.txt is a symbolic link" in proc.stderr
    assert hub_requests(hub) == requests and ("dataset", "acme/leak") not in hub.state.repos

    for stray in ("NOTES.txt", "token", "data/extra.txt"):
        (build / stray).unlink()
    done = run_cli(hub, tmp_path, build, "--repo-id", "acme/leak", "--json", "--no-progress")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((build / "manifest.json").read_text())
    expected = {p for p in manifest["files"] if not p.startswith("audit/")} | {"README.md", "manifest.json"}
    published = hub.state.repo("acme/leak").resolve("v1").files
    assert set(published) == expected | {".gitattributes"}
    assert not any(b"hf_real_secret_token" in blob or b"root:" in blob for blob in hub.state.blobs.values())


def test_a_listed_file_that_became_a_link_is_refused(tmp_path):
    build = make_build(tmp_path / "v1", "v1")
    shard = build / "data/code/train-00000-of-00001.parquet"
    copy = tmp_path / "elsewhere.parquet"
    copy.write_bytes(shard.read_bytes())  # same bytes, same sha256: only the link is wrong
    shard.unlink()
    shard.symlink_to(copy)
    with pytest.raises(PublishError, match="data/code/train-00000-of-00001.parquet is a symbolic link"):
        read_build(build)

    linked_folder = make_build(tmp_path / "v1b", "v1")
    (linked_folder / "data" / "code").rename(tmp_path / "code")
    (linked_folder / "data" / "code").symlink_to(tmp_path / "code")
    with pytest.raises(PublishError, match="- data/code is a symbolic link"):
        read_build(linked_folder)


def test_a_manifest_path_outside_the_build_is_refused(tmp_path):
    build = make_build(tmp_path / "v1", "v1")
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (build / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PublishError, match=r"manifest.json lists '../../etc/passwd', which is not a data/ or audit/"):
        read_build(build)


# ---- 11. the card must be the one the build wrote ---------------------------------------------


def _edit_card(build: Path, edit) -> None:
    card = (build / "README.md").read_text()
    meta_text, body = card.split("---\n", 2)[1:]
    meta = yaml.safe_load(meta_text)
    meta, body = edit(meta, body)
    (build / "README.md").write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body)


@pytest.mark.parametrize("edit", [
    lambda meta, body: ({**meta, "tags": [t for t in meta["tags"] if t != "not-for-all-audiences"]}, body),
    lambda meta, body: (meta, body.replace("> Content warning: harmful requests, each paired with a refusal.\n", "")),
], ids=["tag dropped", "content warning dropped"])
def test_a_card_edited_after_the_build_is_refused(tmp_path, edit):
    build = make_build(tmp_path / "v1", "v1")
    _edit_card(build, lambda meta, body: ({**meta, "tags": [*meta["tags"], "not-for-all-audiences"]}, body))
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["card_sha256"] = hashlib.sha256((build / "README.md").read_bytes()).hexdigest()
    (build / "manifest.json").write_text(json.dumps(manifest))
    read_build(build)  # as built: fine

    _edit_card(build, edit)
    with pytest.raises(PublishError, match=r"README.md \(the card\) does not match card_sha256 in manifest.json"):
        read_build(build)


# ---- 12. a version that cannot be a tag ---------------------------------------------------------


def test_a_manifest_version_named_main_is_refused_before_the_hub_is_asked(hub, tmp_path):
    build = make_build(tmp_path / "main", "main")
    requests = hub_requests(hub)
    proc = run_cli(hub, tmp_path, build, "--repo-id", "acme/main-tag", "--no-progress")
    assert proc.returncode == 1
    no_traceback(proc)
    assert "'version' cannot be a tag on the Hub: 'main' names a branch or a ref on the Hub" in proc.stderr
    assert hub_requests(hub) == requests


# ---- 6. a Hub that dies mid-upload -------------------------------------------------------------


def test_a_connection_dropped_mid_commit_is_one_message_and_a_rerun_finishes(hub, tmp_path):
    build = make_build(tmp_path / "v1", "v1")
    repo = "acme/dropped"
    fault = hub.state.fail("POST", f"/api/datasets/{repo}/commit/main")  # the commit carries the card

    proc = run_cli(hub, tmp_path, build, "--repo-id", repo, "--no-progress")

    assert fault.times == 0 and ("POST", f"/api/datasets/{repo}/commit/main", 0) in hub.state.log
    assert proc.returncode == 1
    no_traceback(proc)
    assert f"the connection to the Hub at {hub.url} broke while publishing {repo}" in proc.stderr
    assert "so publishing again finishes what is missing" in proc.stderr
    state = hub.state.repo(repo)
    assert hub.state.commit_count(repo) == 1 and not state.tags  # nothing half-published

    again = run_cli(hub, tmp_path, build, "--repo-id", repo, "--json", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert state.tags["v1"] == state.branches["main"] == json.loads(again.stdout)["commit"]


def test_a_failed_upload_inside_the_client_is_unwrapped_into_one_message(hub, tmp_path):
    # The client runs LFS uploads in worker threads and wraps what went wrong in a RuntimeError.
    build = make_build(tmp_path / "v1", "v1", tweak=" unique")  # blobs are shared: new bytes must be sent
    hub.state.fail("PUT", "/lfs-upload/", status=400, times=100)
    proc = run_cli(hub, tmp_path, build, "--repo-id", "acme/lfs-refused", "--no-progress")
    assert proc.returncode == 1
    no_traceback(proc)
    assert "the Hub refused a request for acme/lfs-refused (400): Bad Request." in proc.stderr
    assert not hub.state.repo("acme/lfs-refused").tags


def test_an_upload_that_still_fails_after_the_clients_retries_is_one_message():
    # What the client raises once its retries of a dropped LFS upload run out (after ~23 s of
    # backoff, too slow to wait for here): the network error, wrapped by the upload thread.
    import httpx2

    with pytest.raises(PublishError) as caught:
        with publishing._hub_errors("acme/x"):
            try:
                raise httpx2.RemoteProtocolError("Server disconnected without sending a response.")
            except httpx2.RemoteProtocolError as exc:
                raise RuntimeError("Error while uploading 'data/a.parquet' to the Hub.") from exc
    assert "broke while publishing acme/x (Server disconnected without sending a response.)" in str(caught.value)


def test_a_dropped_upload_that_the_client_retries_publishes(hub, tmp_path):
    build = make_build(tmp_path / "v1", "v1", tweak=" retried")  # blobs are shared: new bytes must be sent
    fault = hub.state.fail("PUT", "/lfs-upload/")
    done = run_cli(hub, tmp_path, build, "--repo-id", "acme/retried", "--json", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert fault.times == 0 and json.loads(done.stdout)["verified"]


# ---- 14. a server error is not "check the repo id" -------------------------------------------


def test_a_server_error_is_reported_as_the_hubs_not_the_users(hub, tmp_path):
    build = make_build(tmp_path / "v1", "v1")
    hub.state.fail("GET", "/api/whoami-v2", status=500)
    proc = run_cli(hub, tmp_path, build, "--repo-id", "acme/five-hundred", "--no-progress")
    assert proc.returncode == 1
    no_traceback(proc)
    assert f"the Hub at {hub.url} failed with a server error (500)" in proc.stderr
    assert "Nothing is wrong on your side: publish again later" in proc.stderr
    assert "repo id" not in proc.stderr


def test_local_files_that_differ_and_files_only_the_tag_has_are_listed_apart():
    assert publishing._differ(["data/a.parquet", "manifest.json"], ["data/old.parquet"]) == (
        "2 local file(s) differ from the published ones (data/a.parquet, manifest.json) and "
        "1 published file(s) are not in the build (data/old.parquet)")
    assert publishing._differ([], ["data/old.parquet"]) == (
        "1 published file(s) are not in the build (data/old.parquet)")


# ---- 9. build-dataset --push-to-hub checks first, and reports the build whatever happens ------


@pytest.fixture
def tiny_push(tmp_path):
    """Arguments and environment for a tiny build that publishes to the local Hub."""
    data = data_dir_with_tiny_recipe(ROOT / "data", tmp_path / "data")
    overrides = write_sources(tmp_path / "sources")
    args = ["--version", "tiny", "--quiet", *[a for n, p in overrides.items() for a in ("--source", f"{n}={p}")]]
    return args, {"MTS_DATA_DIR": str(data), "MTS_CACHE_DIR": os.environ["MTS_CACHE_DIR"]}


def push(hub, tmp_path, args, extra_env, token=TOKEN):
    env = {**hf_env(tmp_path / f"home-{len(list(tmp_path.glob('home-*')))}", hub.url, token), **extra_env}
    code = "from builders.cli import build_dataset; build_dataset(prog_name='build-dataset')"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_a_bad_repo_id_is_bad_usage_before_the_build(tmp_path):
    for command, args in ((build_dataset, ["--version", "v1", "--out", str(tmp_path / "out")]),
                          (publish_dataset, [str(tmp_path)])):
        flag = "--push-to-hub" if command is build_dataset else "--repo-id"
        result = CliRunner().invoke(command, [*args, flag, "acme/bad name"])
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '{flag}': bad repo id 'acme/bad name': use ORG/NAME" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_or_rejected_token_stops_the_build_before_it_starts(hub, tmp_path, tiny_push):
    args, env = tiny_push
    out = tmp_path / "out"
    missing = push(hub, tmp_path, [*args, "--out", str(out), "--push-to-hub", "acme/early"], env, token=None)
    assert missing.returncode == 1 and "no Hugging Face token found" in missing.stderr
    rejected = push(hub, tmp_path, [*args, "--out", str(out), "--push-to-hub", "acme/early"], env,
                    token="hf_not_valid")
    assert rejected.returncode == 1 and "rejected the token (401 Unauthorized)" in rejected.stderr
    for proc in (missing, rejected):
        no_traceback(proc)
        assert proc.stdout == ""
    assert not out.exists() and ("dataset", "acme/early") not in hub.state.repos


def test_a_publish_that_fails_after_the_build_still_prints_the_build_summary(hub, tmp_path, tiny_push):
    args, env = tiny_push
    out = tmp_path / "out"
    hub.state.fail("POST", "/api/datasets/acme/late/commit/main")
    proc = push(hub, tmp_path, [*args, "--out", str(out), "--push-to-hub", "acme/late"], env)
    assert proc.returncode == 1
    no_traceback(proc)
    assert proc.stdout.startswith(f"built tiny into {out} in ") and "config" in proc.stdout
    assert f"Error: built tiny into {out}, but publishing failed: the connection to the Hub" in proc.stderr
    assert (out / "manifest.json").is_file()

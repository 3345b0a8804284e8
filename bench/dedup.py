"""Near-duplicate detection benchmark: builders.dedup against datasketch and rensa.

Not part of the test suite.  Needs the ``bench`` extra (datasketch, rensa, xxhash).

    python bench/dedup.py --n 1000000

Generates N short texts (60-300 characters) of which about 10 % are light edits
of other rows (some edits of edits), then runs every method in its own
subprocess on the same texts, with the same shingles (5-character n-grams of
the text) and 128 permutations at Jaccard threshold 0.8, and reports wall time,
peak RSS and pair precision/recall against exact Jaccard.

Ground truth: exact Jaccard (Python sets of 5-character shingles) of every
planted pair and of every pair any method reported; a pair is a true near
duplicate when that Jaccard is >= the threshold.  Pairs that no method found
and that were not planted are not in it (exact all-pairs Jaccard over 10**6
texts is out of reach).

Peers run on a subsample (whole planted families, so every planted pair stays
inside it) when the full set would take them too long; their times are then
extrapolated linearly to N, which flatters them (LSH queries grow with bucket
sizes).  The output says which rows are measured and which extrapolated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NGRAM = 5
NUM_PERM = 128

# --------------------------------------------------------------------- data


def _vocabulary(rng: np.random.Generator, size: int = 30_000) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 11, size)
    flat = rng.choice(letters, lengths.sum())
    return np.array(["".join(w) for w in np.split(flat, np.cumsum(lengths)[:-1])])


def _edit(text: str, rng: np.random.Generator, vocab: np.ndarray, edits: int) -> str:
    """A light edit: replace, insert or drop a word, or change one letter."""
    words = text.split(" ")
    for _ in range(edits):
        op, i = rng.integers(4), rng.integers(len(words))
        if op == 0:
            words[i] = vocab[rng.integers(vocab.size)]
        elif op == 1:
            words.insert(i, vocab[rng.integers(vocab.size)])
        elif op == 2 and len(words) > 3:
            del words[i]
        else:
            w = words[i]
            j = rng.integers(len(w))
            words[i] = w[:j] + chr(97 + rng.integers(26)) + w[j + 1 :]
    return " ".join(words)


def generate(n: int, seed: int, dup_share: float = 0.10) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Texts (id, text, family) and planted pairs (id_a, id_b); rows are shuffled.

    Base texts draw words from a Zipf-like vocabulary, so unrelated texts share
    common words.  A duplicate is a copy of a base text (or, one time in five,
    of an earlier duplicate) with 1 to len/45 edits; ``family`` is the base row
    it descends from.
    """
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    weights = 1.0 / (np.arange(vocab.size) + 20.0)
    n_dup = int(n * dup_share)
    n_base = n - n_dup
    picks = rng.choice(vocab.size, size=(n_base, 48), p=weights / weights.sum())
    words = pl.Series(vocab)
    base = pl.DataFrame({f"w{j}": words.gather(picks[:, j]) for j in range(picks.shape[1])}).select(
        pl.concat_str(pl.all(), separator=" ").str.slice(0, pl.Series(rng.integers(60, 301, n_base))).str.strip_chars()
    )
    texts = base.to_series().to_list()
    family = list(range(n_base))
    sources = np.empty(n_dup, np.int64)
    for d in range(n_dup):
        src = int(rng.integers(n_base + d)) if rng.random() < 0.2 else int(rng.integers(n_base))
        sources[d] = src
        edits = int(rng.integers(1, max(2, len(texts[src]) // 45)))
        texts.append(_edit(texts[src], rng, vocab, edits))
        family.append(family[src])
    ids = np.array([f"r{i:07d}" for i in range(n)])
    frame = pl.DataFrame({"id": ids, "text": texts, "family": family})[rng.permutation(n)]
    planted = pl.DataFrame({"id_a": ids[sources], "id_b": ids[n_base + np.arange(n_dup)]})
    return frame, planted


# --------------------------------------------------------------------- methods


def _tokens(text: str) -> list[str]:
    return [text[i : i + NGRAM] for i in range(max(1, len(text) - NGRAM + 1))] if text else []


def _byte_tokens(text: str) -> list[bytes]:
    raw = text.encode()
    if len(raw) == len(text):  # ASCII: slicing the bytes gives the same shingles, faster
        return [raw[i : i + NGRAM] for i in range(max(1, len(raw) - NGRAM + 1))] if raw else []
    return [t.encode() for t in _tokens(text)]


def _verify(pairs: set[tuple[int, int]], sets: list[set], threshold: float) -> list[tuple[int, int]]:
    return [(i, j) for i, j in pairs if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= threshold]


def run_ours(texts: pl.DataFrame, bands: int, rows: int, threshold: float, scheme: str) -> list[tuple[str, str]]:
    from builders.dedup.minhash import MinHashConfig, near_duplicate_pairs

    cfg = MinHashConfig(
        threshold=threshold, num_perm=NUM_PERM, ngram=NGRAM, bands=bands, rows=rows, verify=True, scheme=scheme
    )
    pairs = near_duplicate_pairs(texts, "text", cfg)
    return list(zip(pairs["id_a"].to_list(), pairs["id_b"].to_list()))


def run_datasketch(texts: pl.DataFrame, bands: int, rows: int, threshold: float, verify: bool) -> list[tuple[str, str]]:
    import xxhash
    from datasketch import MinHash, MinHashLSH

    docs = texts["text"].to_list()
    tokens = [_byte_tokens(t) for t in docs]
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, params=(bands, rows))
    sketches = list(MinHash.generator(tokens, num_perm=NUM_PERM, hashfunc=xxhash.xxh32_intdigest))
    with lsh.insertion_session() as session:
        for key, sketch in enumerate(sketches):
            session.insert(key, sketch, check_duplication=False)
    found = {(i, j) for i, sketch in enumerate(sketches) for j in lsh.query(sketch) if i < j}
    if verify:
        sets = [set(t) for t in tokens]
        found = _verify(found, sets, threshold)
    ids = texts["id"].to_list()
    return [(ids[i], ids[j]) for i, j in found]


def run_rensa(texts: pl.DataFrame, bands: int, threshold: float) -> list[tuple[str, str]]:
    from rensa import RMinHash, RMinHashLSH

    docs = texts["text"].to_list()
    tokens = [_tokens(t) for t in docs]
    sketches = RMinHash.from_token_sets(tokens, num_perm=NUM_PERM, seed=42)
    lsh = RMinHashLSH(threshold=threshold, num_perm=NUM_PERM, num_bands=bands)
    lsh.insert_many(sketches)
    found = {(i, j) for i, hits in enumerate(lsh.query_all(sketches)) for j in hits if i < j}
    sets = [set(t) for t in tokens]
    ids = texts["id"].to_list()
    return [(ids[i], ids[j]) for i, j in _verify(found, sets, threshold)]


def worker(args: argparse.Namespace) -> None:
    """Run one method on one file; print seconds, peak RSS and write the pairs."""
    texts = pl.read_parquet(args.data, columns=["id", "text"])
    start = time.perf_counter()
    if args.worker.startswith("ours"):
        scheme = "permutations" if args.worker == "ours-permutations" else "one_permutation"
        pairs = run_ours(texts, args.bands, args.rows, args.threshold, scheme)
    elif args.worker == "datasketch":
        pairs = run_datasketch(texts, args.bands, args.rows, args.threshold, verify=args.verify)
    elif args.worker == "rensa":
        pairs = run_rensa(texts, args.bands, args.threshold)
    else:
        raise SystemExit(f"unknown method {args.worker}")
    seconds = time.perf_counter() - start
    pl.DataFrame(pairs, schema={"id_a": pl.String, "id_b": pl.String}, orient="row").write_parquet(args.out)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "rows": texts.height}))


def _peak_rss_mb() -> float:
    """This process's peak resident set size.

    ``ru_maxrss`` survives ``exec``, so a worker started by a large parent would
    report the parent's size; the kernel's VmHWM belongs to the worker alone.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------- driver


def _spawn(method: str, data: Path, out: Path, bands: int, rows: int, threshold: float, verify: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--data", str(data), "--out", str(out)]
    cmd += ["--bands", str(bands), "--rows", str(rows), "--threshold", str(threshold)]
    cmd += ["--verify"] if verify else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{method} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["pairs"] = pl.read_parquet(out)
    return result


def _canonical(pairs: pl.DataFrame) -> pl.DataFrame:
    return pairs.select(
        pl.min_horizontal("id_a", "id_b").alias("id_a"), pl.max_horizontal("id_a", "id_b").alias("id_b")
    ).unique()


def _exact_jaccard(pairs: pl.DataFrame, texts: dict[str, str]) -> np.ndarray:
    cache: dict[str, set] = {}

    def shingles(key: str) -> set:
        if key not in cache:
            cache[key] = set(_tokens(texts[key]))
        return cache[key]

    out = np.empty(pairs.height)
    for k, (a, b) in enumerate(pairs.iter_rows()):
        sa, sb = shingles(a), shingles(b)
        out[k] = len(sa & sb) / len(sa | sb) if sa or sb else 0.0
    return out


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("numpy", "polars", "pyarrow", "datasketch", "rensa", "xxhash"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


def main(args: argparse.Namespace) -> None:
    from builders.dedup.exact import normalize_series
    from builders.dedup.minhash import optimal_param

    threshold = args.threshold
    default_banding = optimal_param(threshold, NUM_PERM, 0.5, 0.5)
    if args.bands:
        loose_banding = (args.bands, args.rows or NUM_PERM // args.bands)
    else:
        loose_banding = optimal_param(threshold, NUM_PERM, 0.02, 0.98)
    rensa_bands = max(b for b in (2, 4, 8, 16, 32, 64) if b <= loose_banding[0])  # rensa needs bands | num_perm

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {_versions()}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes on this machine slow every timing)")
    began = time.perf_counter()
    frame, planted = generate(args.n, args.seed)
    assert frame["text"].equals(normalize_series(frame["text"])), "generated texts must already be normalised"
    families = frame["family"].max() + 1
    sample_size = args.peer_sample if 0 < args.peer_sample < args.n else args.n
    sample = frame.filter(pl.col("family") < families * sample_size // args.n)
    print(f"generated {frame.height:,} texts, {planted.height:,} planted edits in {time.perf_counter() - began:.1f} s; "
          f"peer subsample: {sample.height:,} texts (whole families)")

    runs = [  # (label, method, frame, banding, verify)
        ("ours", "ours", frame, loose_banding, True),
        ("ours, default banding", "ours", frame, default_banding, True),
        ("ours, k permutations", "ours-permutations", frame, loose_banding, True),
    ]
    if sample.height < frame.height:
        runs += [
            ("ours", "ours", sample, loose_banding, True),
            ("ours, default banding", "ours", sample, default_banding, True),
        ]
    runs += [
        ("datasketch, default banding", "datasketch", sample, default_banding, False),
        ("datasketch, loose + exact check", "datasketch", sample, loose_banding, True),
        ("rensa, loose + exact check", "rensa", sample, (rensa_bands, NUM_PERM // rensa_bands), True),
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        paths = {}
        for label, method, data, (bands, rows), verify in runs:
            key = id(data)
            if key not in paths:
                paths[key] = Path(tmp) / f"texts-{data.height}.parquet"
                data.select("id", "text").write_parquet(paths[key])
            out = Path(tmp) / f"pairs-{len(results)}.parquet"
            result = _spawn(method, paths[key], out, bands, rows, threshold, verify)
            result.update(label=label, banding=f"{bands}x{rows}", scope=data)
            results.append(result)
            print(f"  ran {label} on {data.height:,} rows: {result['seconds']:.1f} s", flush=True)

    # ground truth over planted pairs and everything reported
    every = _canonical(pl.concat([planted] + [r["pairs"] for r in results]))
    texts = dict(zip(frame["id"].to_list(), frame["text"].to_list()))
    jaccard = _exact_jaccard(every, texts)
    truth = every.filter(pl.Series(jaccard >= threshold))
    planted_j = _exact_jaccard(_canonical(planted), texts)
    print(f"ground truth: {truth.height:,} pairs with exact Jaccard >= {threshold} among {every.height:,} "
          f"planted or reported pairs; planted pairs: median Jaccard {np.median(planted_j):.3f}, "
          f"{np.mean((planted_j >= 0.7) & (planted_j <= 0.95)):.0%} in [0.7, 0.95]")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print()
    header = (
        f"| {'method':<32} | {'rows':>9} | {'bands x rows':>12} | {'pairs':>7} | {'wall s':>7} | "
        f"{'wall s at N':>11} | {'peak RSS MB':>11} | {'precision':>9} | {'recall':>6} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    table = {}
    for r in results:
        scope_ids = r["scope"]["id"]
        in_scope = truth.filter(pl.col("id_a").is_in(scope_ids.implode()) & pl.col("id_b").is_in(scope_ids.implode()))
        found = _canonical(r["pairs"])
        hits = found.join(in_scope, on=["id_a", "id_b"]).height
        precision = hits / found.height if found.height else 1.0
        recall = hits / in_scope.height if in_scope.height else 1.0
        at_n = r["seconds"] * args.n / r["rows"]
        r["at_n"] = at_n
        measured = r["rows"] == args.n
        mark = " " if measured else "*"
        print(
            f"| {r['label']:<32} | {r['rows']:>9,} | {r['banding']:>12} | {found.height:>7,} | {r['seconds']:>7.1f} | "
            f"{at_n:>10.1f}{mark} | {r['peak_rss_mb']:>11,.0f} | {precision:>9.4f} | {recall:>6.4f} |"
        )
        table[(r["label"], r["rows"])] = r
    print("* extrapolated linearly from the subsample")
    print()
    ours_n = table[("ours", args.n)]["seconds"]
    ours_default_n = table[("ours, default banding", args.n)]["seconds"]
    for label, reference in (
        ("datasketch, default banding", ours_default_n),
        ("datasketch, loose + exact check", ours_n),
        ("rensa, loose + exact check", ours_n),
    ):
        peer = table[(label, sample.height)]
        same = table[("ours" if "loose" in label else "ours, default banding", sample.height)]["seconds"]
        print(f"ours vs {label}: {peer['at_n'] / reference:.1f}x faster at N = {args.n:,}"
              f"{' (peer extrapolated)' if sample.height < args.n else ''}; "
              f"{peer['seconds'] / same:.1f}x at {sample.height:,} rows (both measured)")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="number of texts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--peer-sample", type=int, default=100_000, help="rows the peers run on (0: all)")
    parser.add_argument(
        "--bands", type=int, default=0, help="loose banding (default: optimal_param with weights 0.02/0.98)"
    )
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--verify", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.worker:
        worker(arguments)
    else:
        main(arguments)

"""Near duplicates: MinHash signatures, LSH banding, exact Jaccard check, clusters.

Pipeline for a column of texts:

1. normalise (``exact.normalize``) and cut into shingles (``shingles.py``);
2. ``signatures``: ``num_perm`` values per text, each equal for two texts with
   probability equal to their Jaccard similarity.  Two schemes:
   - ``"one_permutation"`` (default): each shingle is hashed once (seeded); the hash
     picks one of ``num_perm`` bins and a 32-bit value, a bin keeps its minimum
     value, and empty bins copy a non-empty bin chosen by a text-independent probe
     sequence ("optimal densification", Shrivastava 2017).  Cost: one pass over
     the shingles instead of ``num_perm``.
   - ``"permutations"``: the textbook form, the minimum of ``a*x mod 2**32`` over
     the shingle hashes ``x`` for ``num_perm`` odd multipliers ``a`` (a bijection on
     32-bit values; the usual ``+ b`` term made no measurable difference to the
     estimate on the benchmark data and costs one of three passes, so it is left out);
3. ``candidate_pairs``: split a signature into ``bands`` groups of ``rows`` values;
   two texts that agree on a whole band land in the same bucket;
4. ``near_duplicate_pairs``: candidates whose signatures agree far too rarely are
   dropped, the rest get their Jaccard similarity computed exactly on the shingle
   sets, and pairs at or above ``threshold`` are kept;
5. ``connected_components`` turns pairs into clusters; ``near_dedup`` keeps one
   row per cluster.

Keep rule: rows are ranked by the priority columns, then ``id`` (ascending, nulls
last); each cluster keeps its best-ranked row and removes the others.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from builders.dedup import shingles
from builders.dedup.exact import normalize_series
from builders.errors import RecipeError

REASON = "near_duplicate"
SCHEMES = ("one_permutation", "permutations")
_EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a text without shingles
_CHUNK_ROWS = 1024  # texts shingled at a time: keeps the temporaries in cache
_BLOCK_SHINGLES = 6144  # shingles hashed per numpy call: big enough to amortise the call, small enough for cache
_BATCH_ITEMS = 1 << 22  # shingles per exact-Jaccard batch (32 MB of uint64)
_TABLE_ITEMS = 1 << 17  # slots of one comparison table (1 MB: sorted and scanned in cache)
_PAD = np.uint64(0xFFFFFFFFFFFFFFFF)  # fills the rows of the exact-Jaccard tables
_BAND_MULTIPLIER = np.uint64(0xFF51AFD7ED558CCD)
_PROBE_STEP = np.uint64(0xC2B2AE3D27D4EB4F)
_TRUSTED_SIGMAS = 6.0  # candidates whose estimate lies this many std devs under the threshold are dropped


@dataclass(frozen=True)
class MinHashConfig:
    """How near duplicates are found.

    shingle: "char" (character n-grams) or "word" (word n-grams) of the normalised text.
    ngram: n of the n-grams.
    num_perm: signature length.
    threshold: Jaccard similarity at or above which two texts are near duplicates.
    bands, rows: LSH banding; ``None`` derives them with ``optimal_param`` (if only one
        is given, the other is ``num_perm // given``).
    seed: seeds the hash permutations; signatures are a pure function of (text, config).
    verify: check candidate pairs with the exact Jaccard similarity of the shingle sets
        (else the signature estimate decides).
    fp_weight, fn_weight: weights of the false-positive and false-negative areas that
        ``optimal_param`` minimises; raise ``fn_weight`` for looser bands (more recall,
        more candidates to verify).
    max_bucket: an LSH bucket with more texts than this links each of them to its
        best-ranked member only, instead of to every other member, so that a large group
        of near-identical texts costs a linear, not quadratic, number of pairs.
    scheme: "one_permutation" (default, fast) or "permutations" (textbook MinHash); see
        the module docstring.  Both give collision probability = Jaccard per value.
    """

    shingle: str = "char"
    ngram: int = 5
    num_perm: int = 128
    threshold: float = 0.8
    bands: int | None = None
    rows: int | None = None
    seed: int = 42
    verify: bool = True
    fp_weight: float = 0.5
    fn_weight: float = 0.5
    max_bucket: int = 64
    scheme: str = "one_permutation"

    def __post_init__(self) -> None:
        problems = []
        if self.shingle not in ("char", "word"):
            problems.append(f"shingle must be 'char' or 'word', not {self.shingle!r}")
        if not 1 <= self.ngram <= 64:
            problems.append(f"ngram must be between 1 and 64, not {self.ngram}")
        if not 2 <= self.num_perm <= 1024:
            problems.append(f"num_perm must be between 2 and 1024, not {self.num_perm}")
        if not 0.0 < self.threshold <= 1.0:
            problems.append(f"threshold must be in (0, 1], not {self.threshold}")
        for name in ("bands", "rows"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= self.num_perm:
                problems.append(f"{name} must be between 1 and num_perm, not {value}")
        if self.bands and self.rows and self.bands * self.rows > self.num_perm:
            problems.append(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.fp_weight < 0 or self.fn_weight < 0 or self.fp_weight + self.fn_weight == 0:
            problems.append("fp_weight and fn_weight must be non-negative and not both zero")
        if self.scheme not in SCHEMES:
            problems.append(f"scheme must be one of {', '.join(SCHEMES)}, not {self.scheme!r}")
        if self.max_bucket < 2:
            problems.append(f"max_bucket must be at least 2, not {self.max_bucket}")
        if problems:
            raise RecipeError("dedup config: " + "; ".join(problems))

    @property
    def banding(self) -> tuple[int, int]:
        """(bands, rows) actually used."""
        if self.bands and self.rows:
            return self.bands, self.rows
        if self.bands:
            return self.bands, self.num_perm // self.bands
        if self.rows:
            return self.num_perm // self.rows, self.rows
        return optimal_param(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)


# ---------------------------------------------------------------- parameters


@functools.lru_cache(maxsize=64)
def optimal_param(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the weighted error areas.

    A pair of Jaccard similarity s becomes a candidate with probability
    ``P(s) = 1 - (1 - s**rows)**bands``.  The false-positive area is the integral of
    ``P`` over [0, threshold], the false-negative area the integral of ``1 - P`` over
    [threshold, 1]; the chosen banding minimises ``fp_weight * FP + fn_weight * FN``
    (ties: fewest bands, then fewest rows).  ``P`` is a polynomial of degree at most
    ``num_perm``, so Gauss-Legendre quadrature with enough nodes integrates it exactly.
    """
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 2)
    bands, rows = zip(*[(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])
    b = np.array(bands, dtype=np.float64)[:, None]
    r = np.array(rows, dtype=np.float64)[:, None]

    def area(lo: float, hi: float, miss: bool) -> np.ndarray:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        p = 1 - (1 - s[None, :] ** r) ** b
        return ((1 - p) if miss else p) @ weights * (hi - lo) / 2

    error = fp_weight * area(0.0, threshold, False) + fn_weight * area(threshold, 1.0, True)
    best = int(np.argmin(error))  # first minimum: fewest bands, then fewest rows
    return bands[best], rows[best]


def collision_probability(similarity: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Chance that a pair of this Jaccard similarity shares at least one LSH bucket."""
    return 1 - (1 - np.asarray(similarity, dtype=np.float64) ** rows) ** bands


# ---------------------------------------------------------------- signatures


def _multipliers(cfg: MinHashConfig) -> np.ndarray:
    """One odd 32-bit multiplier per permutation, shape (num_perm, 1), from the seed alone."""
    stream = shingles.splitmix_stream(cfg.seed, cfg.num_perm)
    return ((stream >> np.uint64(32)).astype(np.uint32) | np.uint32(1))[:, None]


def _shingle_chunks(normalized: pl.Series, cfg: MinHashConfig, rows: range | None = None):
    """Yield (first row, shingle ids, offsets) for consecutive chunks of texts."""
    data, offsets = shingles.utf8(normalized)
    rows = rows if rows is not None else range(len(normalized))
    for first in range(rows.start, rows.stop, _CHUNK_ROWS):
        o = offsets[first : min(first + _CHUNK_ROWS, rows.stop) + 1]
        items = shingles.decode((data[o[0] : o[-1]], o - o[0]))
        if cfg.shingle == "word":
            items = shingles.words(items)
        ids, bounds = shingles.ngram_ids(items, cfg.ngram, salt=cfg.seed)
        yield first, ids, bounds


def _minhash_rows(chunks, cfg: MinHashConfig, out: np.ndarray) -> None:
    """Fill ``out`` rows with, per permutation, the minimum of ``a * x mod 2**32`` over each text's shingles."""
    a = _multipliers(cfg)
    # one scratch buffer for the (num_perm, block) hash table: allocating a fresh
    # multi-megabyte array per block costs more in page faults than the hashing
    scratch = np.empty(cfg.num_perm * 4 * _BLOCK_SHINGLES, dtype=np.uint32)
    for first, ids, bounds in chunks:
        x = (ids >> np.uint64(32)).astype(np.uint32)
        filled = np.flatnonzero(np.diff(bounds))
        starts = bounds[filled]
        lo = 0
        while lo < filled.size:
            # whole texts, about _BLOCK_SHINGLES shingles, so the table stays in cache
            begin = starts[lo]
            if x.size - begin <= _BLOCK_SHINGLES:
                hi = filled.size
            else:
                hi = max(lo + 1, int(np.searchsorted(starts, begin + _BLOCK_SHINGLES, side="right")) - 1)
            end = starts[hi] if hi < filled.size else x.size
            if end - begin > 4 * _BLOCK_SHINGLES:  # one very long text: give it its own buffer
                table = np.multiply.outer(a[:, 0], x[begin:end])
            else:
                table = scratch[: cfg.num_perm * (end - begin)].reshape(cfg.num_perm, end - begin)
                np.multiply(a, x[begin:end], out=table)  # wraps mod 2**32
            out[first + filled[lo:hi]] = np.minimum.reduceat(table, starts[lo:hi] - begin, axis=1).T
            lo = hi


def _probe(bins: np.ndarray, attempt: int, k: int, seed: int) -> np.ndarray:
    """Bin that empty bin ``bins[i]`` borrows from at ``attempt`` (1, 2, ...): a hash of both and the seed."""
    salt = shingles.splitmix_stream(seed ^ 0xD1B54A32D192ED03, attempt)[-1]
    h = shingles.mix64((bins.astype(np.uint64) * _PROBE_STEP) ^ salt)
    return (((h >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)).astype(np.int64)


@functools.lru_cache(maxsize=8)
def _probe_table(k: int, seed: int, attempts: int = 16) -> np.ndarray:
    """``_probe`` of every bin for the first attempts, flat: entry ``bin * attempts + attempt - 1``."""
    return np.stack([_probe(np.arange(k), t, k, seed) for t in range(1, attempts + 1)], axis=1).ravel()


def _densify(sig: np.ndarray, seed: int) -> None:
    """Fill the empty bins of one-permutation signatures in place ("optimal densification").

    An empty bin ``j`` copies the first originally non-empty bin in a probe
    sequence that depends only on ``(j, attempt, seed)``, never on the text, so two
    texts probe alike, and each value still collides with probability equal to
    the Jaccard similarity (Shrivastava, ICML 2017).  Rows without shingles stay empty.
    """
    rows, k = sig.shape
    flat = sig.ravel()
    original = flat.copy()
    empty = np.flatnonzero((original == _EMPTY) & np.repeat((sig != _EMPTY).any(axis=1), k))
    table = _probe_table(k, seed)
    attempts = table.size // k
    bins = empty % k
    attempt = 0
    while empty.size:
        attempt += 1
        if attempt <= attempts:
            source = table[bins * attempts + attempt - 1]
        elif attempt <= 64 * k:
            source = _probe(bins, attempt, k, seed)
        else:  # only reachable with astronomically bad luck: scan so the loop ends
            source = (bins + attempt) % k
        value = original[empty - bins + source]
        found = value != _EMPTY
        flat[empty[found]] = value[found]
        empty, bins = empty[~found], bins[~found]


def _one_permutation_rows(chunks, cfg: MinHashConfig, out: np.ndarray) -> None:
    """Fill ``out`` rows with one-permutation MinHash signatures.

    Shingle ids are hashed with the seed, so each seed is one random permutation:
    an id's high 32 bits choose one of ``num_perm`` bins, its low 32 bits are its
    value; a text's signature holds the minimum value per bin, and empty bins are
    densified.
    """
    k = cfg.num_perm
    for first, h, bounds in chunks:
        counts = np.diff(bounds)
        slot = (((h >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)).astype(np.int64)
        slot += np.repeat(np.arange(0, counts.size * k, k, dtype=np.int64), counts)
        sig = np.full(counts.size * k, _EMPTY, dtype=np.uint32)
        np.minimum.at(sig, slot, h.astype(np.uint32))  # low 32 bits
        sig = sig.reshape(counts.size, k)
        _densify(sig, cfg.seed)
        out[first : first + counts.size] = sig


def _signatures_of_normalized(normalized: pl.Series, cfg: MinHashConfig, workers: int = 2) -> np.ndarray:
    out = np.full((len(normalized), cfg.num_perm), _EMPTY, dtype=np.uint32)
    fill = _one_permutation_rows if cfg.scheme == "one_permutation" else _minhash_rows
    n = len(normalized)
    if workers <= 1 or n < 4 * _CHUNK_ROWS:
        fill(_shingle_chunks(normalized, cfg), cfg, out)
        return out
    # numpy releases the GIL inside most calls, so threads over disjoint rows overlap
    cuts = [n * k // workers for k in range(workers + 1)]
    with ThreadPoolExecutor(workers) as pool:
        jobs = [
            pool.submit(fill, _shingle_chunks(normalized, cfg, range(lo, hi)), cfg, out)
            for lo, hi in zip(cuts[:-1], cuts[1:])
        ]
        for job in jobs:
            job.result()
    return out


def signatures(texts: pl.Series, cfg: MinHashConfig) -> np.ndarray:
    """MinHash signatures, shape (len(texts), num_perm), uint32.

    Texts are normalised first.  A text without shingles (empty after
    normalisation) gets all values 0xFFFFFFFF and is never a candidate.
    """
    return _signatures_of_normalized(normalize_series(texts), cfg)


# ---------------------------------------------------------------- LSH


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Bucket keys, shape (bands, len(sig)), uint64: one per band of each signature.

    The band number is mixed in, so keys of different bands never meet.
    """
    n = sig.shape[0]
    out = np.empty((bands, n), np.uint64)
    salt = shingles.splitmix_stream(0xBA4D, bands)[:, None]
    for lo in range(0, n, 1 << 14):
        values = sig[lo : lo + (1 << 14), : bands * rows].T.reshape(bands, rows, -1)  # band-major view
        h = np.repeat(salt, values.shape[2], axis=1)
        for j in range(rows):
            h *= _BAND_MULTIPLIER
            h += values[:, j, :]
        out[:, lo : lo + values.shape[2]] = shingles.mix64(h)
    return out


def _shared_entries(keys: np.ndarray, present: np.ndarray) -> pl.LazyFrame:
    """(key, row) entries whose key occurs more than once, over all bands; rows not ``present`` are left out.

    A counting table indexed by the top bits of the key (about eight slots per
    row) discards most single-member buckets with two numpy passes per band;
    polars then counts exactly what is left, a small fraction of all entries.
    """
    bits = max(16, int(np.ceil(np.log2(max(2, keys.shape[1])))) + 3)
    shift = np.uint64(64 - bits)
    found_keys, found_rows = [], []
    everyone = bool(present.all())
    absent = int(present.size - np.count_nonzero(present))
    for band in keys:
        slot = (band >> shift).view(np.int64)  # < 2**bits, so the same bits read as int64
        if not everyone:
            slot = np.where(present, slot, 0)
        counts = np.bincount(slot, minlength=1 << bits)
        counts[0] -= absent  # rows without shingles were counted in slot 0
        maybe = (counts > 1)[slot]
        if not everyone:
            maybe &= present
        found_keys.append(band[maybe])
        found_rows.append(np.flatnonzero(maybe))
    entries = pl.DataFrame(
        {"key": np.concatenate(found_keys), "row": np.concatenate(found_rows)},
        schema={"key": pl.UInt64, "row": pl.Int64},
    )
    return entries.lazy().filter(pl.len().over("key") > 1)


def _bucket_pairs(members: pl.LazyFrame, max_bucket: int) -> pl.DataFrame:
    """Pairs (a < b) of rows sharing a bucket key; rows ascend in keep order."""
    members = members.with_columns(
        pl.len().over("key").alias("size"), pl.col("row").min().over("key").alias("best")
    )
    small = members.filter(pl.col("size") <= max_bucket).select("key", "row")
    every_pair = (
        small.join(small, on="key", suffix="_other")
        .filter(pl.col("row") < pl.col("row_other"))
        .select(pl.col("row").alias("a"), pl.col("row_other").alias("b"))
    )
    star = members.filter((pl.col("size") > max_bucket) & (pl.col("row") != pl.col("best"))).select(
        pl.col("best").alias("a"), pl.col("row").alias("b")
    )
    return pl.concat([every_pair, star]).unique().sort("a", "b").collect()


def _with_shingles(sig: np.ndarray) -> np.ndarray:
    """Mask of the rows whose signature is not the empty-text one."""
    maybe_empty = np.flatnonzero(sig[:, 0] == _EMPTY)
    empty = maybe_empty[(sig[maybe_empty] == _EMPTY).all(axis=1)]
    keep = np.ones(sig.shape[0], bool)
    keep[empty] = False
    return keep


def candidate_pairs(sig: np.ndarray, cfg: MinHashConfig) -> pl.DataFrame:
    """LSH candidates: row pairs (a < b, Int64) that share a whole band of their signatures.

    Rows are positions in ``sig``; in a bucket larger than ``cfg.max_bucket`` each row
    is paired with the bucket's lowest row only.
    """
    bands, rows = cfg.banding
    members = _shared_entries(band_keys(sig, bands, rows), _with_shingles(sig))
    return _bucket_pairs(members, cfg.max_bucket)


def estimated_jaccard(sig: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal signature values for each pair (the MinHash estimate of Jaccard)."""
    out = np.empty(a.size, np.float64)
    step = max(1, (1 << 22) // max(1, sig.shape[1]))
    for lo in range(0, a.size, step):
        out[lo : lo + step] = (sig[a[lo : lo + step]] == sig[b[lo : lo + step]]).mean(axis=1)
    return out


# ---------------------------------------------------------------- exact Jaccard


def _flat_shingles(normalized: pl.Series, cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Shingle ids of all texts (duplicates kept), flat with offsets."""
    parts, counts = [], []
    for _, ids, bounds in _shingle_chunks(normalized, cfg):
        parts.append(ids)
        counts.append(np.diff(bounds))
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(1, np.int64)
    return np.concatenate(parts), np.concatenate([[0], np.cumsum(np.concatenate(counts))])


def exact_jaccard(normalized: pl.Series, a: np.ndarray, b: np.ndarray, cfg: MinHashConfig) -> np.ndarray:
    """Exact Jaccard similarity of the shingle-id sets of texts ``a[i]`` and ``b[i]`` (normalised texts).

    Pairs are processed in batches of similar text length (see ``_jaccard_batch``).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    out = np.zeros(a.size, np.float64)
    lengths = normalized.str.len_chars().fill_null(0).to_numpy().astype(np.int64) + 1
    longest = np.maximum(lengths[a], lengths[b])
    order = np.argsort(longest, kind="stable")
    start = 0
    while start < a.size:
        guess = min(a.size, start + max(1, _BATCH_ITEMS // (2 * int(longest[order[start]]))))
        stop = min(guess, start + max(1, _BATCH_ITEMS // (2 * int(longest[order[guess - 1]]))))
        pick = order[start:stop]
        out[pick] = _jaccard_batch(normalized, a[pick], b[pick], cfg)
        start = stop
    return out


def _jaccard_batch(normalized: pl.Series, a: np.ndarray, b: np.ndarray, cfg: MinHashConfig) -> np.ndarray:
    """Shingle the batch's texts once, then compare them a cache-sized group of pairs at a time."""
    ids, bounds = _flat_shingles(normalized.gather(np.concatenate([a, b])), cfg)
    counts = np.diff(bounds)
    widest = max(1, int((counts[: a.size] + counts[a.size :]).max(initial=0)))
    step = max(1, _TABLE_ITEMS // widest)
    out = np.empty(a.size)
    for lo in range(0, a.size, step):
        hi = min(a.size, lo + step)
        side_a = ids[bounds[lo] : bounds[hi]], counts[lo:hi]
        side_b = ids[bounds[a.size + lo] : bounds[a.size + hi]], counts[a.size + lo : a.size + hi]
        out[lo:hi] = _table_jaccard(side_a, side_b)
    return out


def _table_jaccard(side_a: tuple[np.ndarray, np.ndarray], side_b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Jaccard of pairs given as (flat ids, counts) per side, one table row per pair.

    Each row holds both texts' shingle ids, tagged by side in the lowest bit, then
    padding.  After sorting rows (short rows sort fast), a shingle of both texts
    shows up as neighbours ``v|0, v|1`` and a repeated shingle as equal
    neighbours.  Ids lose their lowest bit here: two different shingles of one
    pair coincide with probability about 2**-63.
    """
    (ids_a, size_a), (ids_b, size_b) = side_a, side_b
    pairs = size_a.size
    width = max(1, int((size_a + size_b).max(initial=0)))
    table = np.full(pairs * width, _PAD)
    for ids, sizes, offset, tag in ((ids_a, size_a, 0, 0), (ids_b, size_b, size_a, 1)):
        row = np.repeat(np.arange(pairs), sizes)
        column = np.arange(ids.size) - np.repeat(np.cumsum(sizes) - sizes, sizes) + (offset[row] if tag else 0)
        table[row * width + column] = (np.minimum(ids, _PAD - np.uint64(3)) & ~np.uint64(1)) | np.uint64(tag)
    table = table.reshape(pairs, width)
    table.sort(axis=1)
    left, right = table[:, :-1], table[:, 1:]
    shared = np.count_nonzero((left ^ right) == 1, axis=1)  # v|0 then v|1: in both texts
    repeat = right == left  # a text repeating a shingle (or padding after padding)
    repeat_b = np.count_nonzero(repeat & (right & np.uint64(1)).astype(bool), axis=1)
    padding_repeats = np.maximum(width - size_a - size_b - 1, 0)  # _PAD has its low bit set
    distinct_b = size_b - (repeat_b - padding_repeats)
    distinct_a = size_a - (np.count_nonzero(repeat, axis=1) - repeat_b)
    union = distinct_a + distinct_b - shared
    return np.divide(shared, union, out=np.zeros(pairs), where=union > 0)


# ---------------------------------------------------------------- pairs


def _trusted_floor(cfg: MinHashConfig) -> float:
    """Estimates below this are too far under the threshold to be worth an exact check.

    Densified values of short texts are copies, so the estimate is treated as if it
    rested on at most 32 independent values.
    """
    t = cfg.threshold
    return t - _TRUSTED_SIGMAS * math.sqrt(t * (1 - t) / min(cfg.num_perm, 32)) - 1.0 / cfg.num_perm


def similar_rows(normalized: pl.Series, cfg: MinHashConfig, cross_at: int | None = None) -> pl.DataFrame:
    """Row pairs (a < b) with similarity >= threshold, columns a, b (Int64) and jaccard.

    With ``cross_at``, only pairs with ``a < cross_at <= b`` are searched for.
    """
    sig = _signatures_of_normalized(normalized, cfg)
    if cross_at is None:
        cand = candidate_pairs(sig, cfg)
    else:
        cand = _cross_candidates(sig, cfg, cross_at)
    a, b = cand["a"].to_numpy(), cand["b"].to_numpy()
    estimate = estimated_jaccard(sig, a, b)
    del sig
    if cfg.verify:
        plausible = estimate >= _trusted_floor(cfg)
        a, b = a[plausible], b[plausible]
        similarity = exact_jaccard(normalized, a, b, cfg)
    else:
        similarity = estimate
    hit = similarity >= cfg.threshold
    return pl.DataFrame(
        {"a": a[hit], "b": b[hit], "jaccard": similarity[hit]},
        schema={"a": pl.Int64, "b": pl.Int64, "jaccard": pl.Float64},
    )


def _cross_candidates(sig: np.ndarray, cfg: MinHashConfig, cross_at: int) -> pl.DataFrame:
    """Candidates between rows before ``cross_at`` and rows from it on; only buckets holding both sides count."""
    bands, rows = cfg.banding
    members = (
        _shared_entries(band_keys(sig, bands, rows), _with_shingles(sig))
        .with_columns((pl.col("row") >= cross_at).alias("right"))
        .filter(pl.col("right").any().over("key") & (~pl.col("right")).any().over("key"))
    )
    left = members.filter(~pl.col("right")).select("key", pl.col("row").alias("a"))
    right = members.filter(pl.col("right")).select("key", pl.col("row").alias("b"))
    return left.join(right, on="key").select("a", "b").unique().sort("a", "b").collect()


def _check_ids(df: pl.DataFrame) -> None:
    if "id" not in df.columns:
        raise ValueError("deduplication needs an 'id' column")
    if df["id"].null_count() or df["id"].n_unique() != df.height:
        raise ValueError("deduplication needs unique, non-null ids")


def near_duplicate_pairs(df: pl.DataFrame, text: str, cfg: MinHashConfig) -> pl.DataFrame:
    """Pairs of rows whose texts are near duplicates: columns id_a < id_b, jaccard.

    ``jaccard`` is exact when ``cfg.verify`` (else the signature estimate).  Exact
    duplicates are included (jaccard 1.0) unless the text is empty after normalisation.
    Sorted by (id_a, id_b).
    """
    _check_ids(df)
    ordered = df.select("id", text).sort("id")
    pairs = similar_rows(normalize_series(ordered[text]), cfg)
    ids = ordered["id"]
    return pl.DataFrame(
        {"id_a": ids.gather(pairs["a"]), "id_b": ids.gather(pairs["b"]), "jaccard": pairs["jaccard"]}
    ).sort("id_a", "id_b")


def cross_split_pairs(df: pl.DataFrame, text: str, split: str, cfg: MinHashConfig) -> pl.DataFrame:
    """Near or exact duplicate pairs whose rows lie in different splits.

    Columns id_a, id_b, jaccard, split_a, split_b; an empty frame means no leak.
    """
    pairs = near_duplicate_pairs(df, text, cfg)
    splits = df.select("id", split)
    return (
        pairs.join(splits.rename({"id": "id_a", split: "split_a"}), on="id_a")
        .join(splits.rename({"id": "id_b", split: "split_b"}), on="id_b")
        .filter(pl.col("split_a") != pl.col("split_b"))
        .sort("id_a", "id_b")
    )


# ---------------------------------------------------------------- clusters


def _component_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest row of each row's connected component.

    Min-label propagation over the edges (a polars group-by per round), each round
    followed by pointer jumping (label <- label of label) until labels stop
    changing.  Labels only decrease and always name a row of the same component,
    so the fixpoint is the component minimum.
    """
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    edges = pl.DataFrame(
        {"src": np.concatenate([a, b]), "dst": np.concatenate([b, a])}, schema={"src": pl.Int64, "dst": pl.Int64}
    )
    dst = edges["dst"].to_numpy()
    while True:
        lowest = edges.with_columns(pl.Series("offer", labels[dst])).group_by("src").agg(pl.col("offer").min())
        src, offer = lowest["src"].to_numpy(), lowest["offer"].to_numpy()
        updated = labels.copy()
        updated[src] = np.minimum(labels[src], offer)
        while True:
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, labels):
            return labels
        labels = updated


def connected_components(ids: pl.Series, pairs: pl.DataFrame) -> pl.DataFrame:
    """Clusters of ``ids`` linked by ``pairs`` (columns id_a, id_b).

    Returns id, cluster_id (the smallest id of the component), cluster_size (Int32),
    one row per id in the order given.  Ids in pairs but not in ``ids`` are an error.
    """
    order = ids.sort()
    index = pl.DataFrame({"id": order, "rank": np.arange(len(order), dtype=np.int64)})

    def ranks(column: str) -> np.ndarray:
        joined = pairs.select(pl.col(column).alias("id")).join(index, on="id", how="left", maintain_order="left")
        if joined["rank"].null_count():
            raise ValueError(f"pairs.{column} names ids that are not in ids")
        return joined["rank"].to_numpy()

    labels = _component_labels(len(order), ranks("id_a"), ranks("id_b"))
    clusters = pl.DataFrame(
        {"id": order, "cluster_id": order.gather(labels), "_label": labels}
    ).with_columns(pl.len().over("_label").cast(pl.Int32).alias("cluster_size"))
    return ids.to_frame("id").join(clusters.drop("_label"), on="id", how="left", maintain_order="left")


def near_dedup(
    df: pl.DataFrame, text: str, priority: list[str], cfg: MinHashConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep one row per near-duplicate cluster.

    Kept rows (input order) get ``cluster_id`` (their own id: the cluster's kept row)
    and ``cluster_size`` (rows in the cluster before removal, Int32).  Removed rows
    (sorted by id) get the same two columns plus ``reason = "near_duplicate"``,
    ``kept_id`` and ``jaccard``: the exact similarity to the kept row, which can be
    under the threshold when the two are linked through other rows.
    """
    _check_ids(df)
    order = [*priority, "id"] if "id" not in priority else list(priority)
    ranked = df.with_row_index("_row").sort(order, nulls_last=True, maintain_order=True)
    normalized = normalize_series(ranked[text])
    pairs = similar_rows(normalized, cfg)
    labels = _component_labels(ranked.height, pairs["a"].to_numpy(), pairs["b"].to_numpy())
    moved = np.flatnonzero(labels != np.arange(ranked.height))
    similarity = np.full(ranked.height, np.nan)
    similarity[moved] = exact_jaccard(normalized, moved, labels[moved], cfg)
    ids = ranked["id"]
    ranked = ranked.with_columns(
        ids.gather(labels).alias("cluster_id"),
        pl.Series("_label", labels),
        pl.Series("jaccard", similarity),
    ).with_columns(pl.len().over("_label").cast(pl.Int32).alias("cluster_size"))
    columns = [*df.columns, *[c for c in ("cluster_id", "cluster_size") if c not in df.columns]]
    is_kept = pl.col("cluster_id") == pl.col("id")
    kept = ranked.filter(is_kept).sort("_row").select(columns)
    removed = (
        ranked.filter(~is_kept)
        .sort("id")
        .select(*columns, pl.lit(REASON).alias("reason"), pl.col("cluster_id").alias("kept_id"), "jaccard")
    )
    return kept, removed

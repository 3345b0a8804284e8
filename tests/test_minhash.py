import random

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders.dedup.exact import normalize_series
from builders.dedup.minhash import (
    SCHEMES,
    MinHashConfig,
    candidate_pairs,
    collision_probability,
    connected_components,
    cross_split_pairs,
    estimated_jaccard,
    exact_jaccard,
    near_dedup,
    near_duplicate_pairs,
    optimal_param,
    signatures,
)
from builders.errors import RecipeError

CFG = MinHashConfig()

BASE = [
    "Write a short poem about autumn leaves falling slowly in the quiet park near the old library.",
    "Explain how a refrigerator keeps food cold, using simple words that a ten year old can follow.",
    "List five tips for learning to play the guitar as an adult with only twenty minutes a day.",
    "Summarize the plot of a detective story in which the butler is innocent and the cat is the key.",
    "Translate the sentence 'the weather is lovely today' into French, German and Spanish please.",
]


def shingle_set(text: str, n: int = 5) -> set[str]:
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))} if text else set()


def jaccard(x: str, y: str) -> float:
    a, b = shingle_set(x), shingle_set(y)
    return len(a & b) / len(a | b) if a | b else 0.0


def normalized_jaccard(x: str, y: str) -> float:
    nx, ny = normalize_series(pl.Series([x, y])).to_list()
    return jaccard(nx, ny)


def light_edit(text: str) -> str:
    return text.replace("short", "brief") if "short" in text else text.replace("five", "six")


# ------------------------------------------------------------------ parameters


def weighted_error(threshold, bands, rows, fp=0.5, fn=0.5, steps=20001):
    """Independent check: trapezoid integration on a fine grid."""
    s = np.linspace(0, 1, steps)
    p = 1 - (1 - s**rows) ** bands
    below, above = s <= threshold, s >= threshold
    return fp * np.trapezoid(p[below], s[below]) + fn * np.trapezoid(1 - p[above], s[above])


def test_optimal_param_for_threshold_08_and_128_permutations():
    bands, rows = optimal_param(0.8, 128)
    assert (bands, rows) == (9, 13)
    assert 0.3 < collision_probability(0.8, bands, rows) < 0.6  # the S-curve is steepest near the threshold


@pytest.mark.parametrize(("threshold", "fp"), [(0.8, 0.5), (0.8, 0.02), (0.5, 0.5), (0.9, 0.1)])
def test_optimal_param_beats_its_neighbours(threshold, fp):
    bands, rows = optimal_param(threshold, 128, fp, 1 - fp)
    assert bands * rows <= 128
    best = weighted_error(threshold, bands, rows, fp, 1 - fp)
    for b, r in [(bands + 1, rows), (bands - 1, rows), (bands, rows + 1), (bands, rows - 1), (bands + 1, rows - 1)]:
        if b >= 1 and r >= 1 and b * r <= 128:
            assert best <= weighted_error(threshold, b, r, fp, 1 - fp) + 1e-9


def test_recall_weight_loosens_the_bands():
    strict, loose = optimal_param(0.8, 128, 0.5, 0.5), optimal_param(0.8, 128, 0.02, 0.98)
    assert loose[1] < strict[1] and loose[0] > strict[0]
    assert collision_probability(0.8, *loose) > 0.95


def test_config_derives_and_validates_banding():
    assert MinHashConfig().banding == (9, 13)
    assert MinHashConfig(bands=16).banding == (16, 8)
    assert MinHashConfig(rows=4).banding == (32, 4)
    assert MinHashConfig(bands=17, rows=7).banding == (17, 7)
    with pytest.raises(RecipeError, match="shingle"):
        MinHashConfig(shingle="token")
    with pytest.raises(RecipeError, match="exceeds num_perm"):
        MinHashConfig(bands=20, rows=7)
    with pytest.raises(RecipeError, match="threshold"):
        MinHashConfig(threshold=0)
    with pytest.raises(RecipeError, match="scheme must be one of one_permutation, permutations"):
        MinHashConfig(scheme="bottom_k")


# ------------------------------------------------------------------ signatures


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signatures_are_deterministic_per_seed_and_shape(scheme):
    texts = pl.Series(BASE)
    cfg = MinHashConfig(scheme=scheme)
    first, second = signatures(texts, cfg), signatures(texts, cfg)
    assert first.shape == (5, 128) and first.dtype == np.uint32
    assert np.array_equal(first, second)
    other_seed = signatures(texts, MinHashConfig(seed=7, scheme=scheme))
    assert (first == other_seed).mean() < 0.2


@pytest.mark.parametrize("scheme", SCHEMES)
def test_equal_texts_after_normalisation_share_a_signature(scheme):
    texts = pl.Series([BASE[0], BASE[0].upper(), "  " + BASE[0] + "!!", BASE[1]])
    sig = signatures(texts, MinHashConfig(scheme=scheme))
    assert np.array_equal(sig[0], sig[1]) and np.array_equal(sig[0], sig[2])
    assert (sig[0] == sig[3]).mean() < 0.2


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_signature_does_not_depend_on_the_other_texts(scheme):
    rng = random.Random(3)
    many = [f"{rng.choice(BASE)} number {i} of {rng.randint(0, 10**6)}" for i in range(5000)]
    cfg = MinHashConfig(scheme=scheme)
    together = signatures(pl.Series(many), cfg)  # several chunks, two worker threads
    alone = signatures(pl.Series([many[4321], many[17]]), cfg)
    assert np.array_equal(together[[4321, 17]], alone)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_empty_and_short_texts(scheme):
    sig = signatures(pl.Series(["", None, "...", "abc", "ABC", "abd"]), MinHashConfig(scheme=scheme))
    assert (sig[:3] == np.iinfo(np.uint32).max).all()  # nothing to shingle
    assert (sig[3:] != np.iinfo(np.uint32).max).all()  # one shingle fills every value
    assert np.array_equal(sig[3], sig[4]) and not np.array_equal(sig[3], sig[5])
    assert candidate_pairs(sig, MinHashConfig(bands=16)).rows() == [(3, 4)]


def test_one_permutation_densification_fills_from_non_empty_bins():
    cfg = MinHashConfig(scheme="one_permutation")
    single, few = signatures(pl.Series(["abc", "abcdefgh"]), cfg)  # 1 and 4 shingles
    assert len(set(single.tolist())) == 1  # every bin borrowed the only value
    assert len(set(few.tolist())) <= 4


@pytest.mark.parametrize("scheme", SCHEMES)
def test_estimate_tracks_exact_jaccard(scheme):
    pairs = [(BASE[0], light_edit(BASE[0])), (BASE[2], light_edit(BASE[2])), (BASE[0], BASE[1])]
    texts = pl.Series([t for pair in pairs for t in pair])
    sig = signatures(texts, MinHashConfig(num_perm=256, scheme=scheme))
    est = estimated_jaccard(sig, np.array([0, 2, 4]), np.array([1, 3, 5]))
    truth = np.array([normalized_jaccard(x, y) for x, y in pairs])
    assert np.all(np.abs(est - truth) < 0.12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ab cdé日", max_size=14), min_size=2, max_size=8))
def test_exact_jaccard_matches_python_sets(values):
    normalized = normalize_series(pl.Series(values))
    texts = normalized.to_list()
    a, b = np.triu_indices(len(texts), k=1)
    ours = exact_jaccard(normalized, a, b, CFG)
    expected = [jaccard(texts[i], texts[j]) for i, j in zip(a, b)]
    assert np.allclose(ours, expected)


def test_word_shingles_match_python_word_ngrams():
    cfg = MinHashConfig(shingle="word", ngram=2)
    texts = ["the cat sat on the mat", "the cat sat on a mat", "mat the on sat cat the", "cat", "cat"]
    normalized = pl.Series(texts)
    words = [t.split() for t in texts]
    grams = [{tuple(w[i : i + 2]) for i in range(max(1, len(w) - 1))} for w in words]
    a, b = np.triu_indices(len(texts), k=1)
    expected = [len(grams[i] & grams[j]) / len(grams[i] | grams[j]) for i, j in zip(a, b)]
    assert np.allclose(exact_jaccard(normalized, a, b, cfg), expected)


# ------------------------------------------------------------------ pairs


def corpus(rows):
    return pl.DataFrame(rows, schema={"id": pl.String, "text": pl.String}, orient="row")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_near_duplicate_pairs_finds_light_edits_with_exact_jaccard(scheme):
    df = corpus([(f"b{i}", t) for i, t in enumerate(BASE)] + [("e0", light_edit(BASE[0])), ("e2", light_edit(BASE[2]))])
    assert normalized_jaccard(BASE[0], light_edit(BASE[0])) >= 0.8
    pairs = near_duplicate_pairs(df, "text", MinHashConfig(fp_weight=0.02, fn_weight=0.98, scheme=scheme))
    assert pairs.select("id_a", "id_b").rows() == [("b0", "e0"), ("b2", "e2")]
    for id_a, id_b, value in pairs.rows():
        x, y = (df.filter(pl.col("id") == i)["text"][0] for i in (id_a, id_b))
        assert value == pytest.approx(normalized_jaccard(x, y))


def test_unverified_pairs_use_the_estimate():
    df = corpus([("a", BASE[0]), ("b", BASE[0] + " "), ("c", BASE[1])])
    pairs = near_duplicate_pairs(df, "text", MinHashConfig(verify=False))
    assert pairs.rows() == [("a", "b", 1.0)]


def test_big_buckets_become_stars_around_their_first_row():
    sig = signatures(pl.Series([BASE[0]] * 30 + [BASE[1]] * 3), CFG)
    pairs = candidate_pairs(sig, MinHashConfig(max_bucket=8))
    assert pairs.filter(pl.col("a") < 30).rows() == [(0, k) for k in range(1, 30)]
    assert pairs.filter(pl.col("a") >= 30).rows() == [(30, 31), (30, 32), (31, 32)]


def test_cross_split_pairs_finds_a_planted_leak():
    df = corpus([(f"b{i}", t) for i, t in enumerate(BASE)] + [("leak", light_edit(BASE[2])), ("twin", BASE[4])])
    df = df.with_columns(pl.Series("split", ["train", "train", "train", "test", "validation", "test", "validation"]))
    loose = MinHashConfig(fp_weight=0.02, fn_weight=0.98)
    leaks = cross_split_pairs(df, "text", "split", loose)
    assert leaks.select("id_a", "id_b", "split_a", "split_b").rows() == [("b2", "leak", "train", "test")]
    fixed = df.with_columns(pl.when(pl.col("id") == "leak").then(pl.lit("train")).otherwise("split").alias("split"))
    assert cross_split_pairs(fixed, "text", "split", loose).height == 0
    twin_in_train = pl.when(pl.col("id") == "twin").then(pl.lit("train")).otherwise("split").alias("split")
    exact_leak = fixed.with_columns(twin_in_train)
    assert cross_split_pairs(exact_leak, "text", "split", loose).select("id_a", "id_b", "jaccard").rows() == [
        ("b4", "twin", 1.0)
    ]


# ------------------------------------------------------------------ clusters


def components(ids, edges):
    pairs = pl.DataFrame(edges, schema={"id_a": pl.String, "id_b": pl.String}, orient="row")
    return {row[0]: row[1:] for row in connected_components(pl.Series(ids), pairs).rows()}


def test_components_of_a_chain_a_star_and_singletons():
    ids = ["k", "c", "b", "a", "d", "s", "t1", "t2", "t3", "z"]
    edges = [("c", "d"), ("b", "c"), ("a", "b"), ("t1", "s"), ("s", "t2"), ("t3", "s")]
    got = components(ids, edges)
    assert got == {
        "a": ("a", 4), "b": ("a", 4), "c": ("a", 4), "d": ("a", 4),
        "s": ("s", 4), "t1": ("s", 4), "t2": ("s", 4), "t3": ("s", 4),
        "k": ("k", 1), "z": ("z", 1),
    }  # fmt: skip


def test_components_keep_input_order_and_dtypes():
    out = connected_components(pl.Series(["y", "x", "w"]), pl.DataFrame({"id_a": ["y"], "id_b": ["x"]}))
    assert out["id"].to_list() == ["y", "x", "w"]
    assert out.schema == pl.Schema({"id": pl.String, "cluster_id": pl.String, "cluster_size": pl.Int32})
    with pytest.raises(ValueError, match="not in ids"):
        connected_components(pl.Series(["y"]), pl.DataFrame({"id_a": ["y"], "id_b": ["q"]}))


def test_long_shuffled_path_is_one_component():
    rng = random.Random(5)
    ids = [f"n{i:04d}" for i in range(400)]
    path = ids[:]
    rng.shuffle(path)
    got = components(ids, list(zip(path[:-1], path[1:])))
    assert set(got.values()) == {("n0000", 400)}


def test_near_dedup_keep_rule_and_columns():
    edited = light_edit(BASE[0])
    df = pl.DataFrame(
        {
            "id": ["x3", "x1", "x2", "y1", "z1"],
            "text": [BASE[0], edited, BASE[0] + "!", BASE[1], BASE[2]],
            "rank": [0, 1, 1, 0, 0],
            "cluster_id": [None] * 5,
            "cluster_size": [None] * 5,
        },
        schema_overrides={"cluster_id": pl.String, "cluster_size": pl.Int32},
    )
    kept, removed = near_dedup(df, "text", ["rank"], MinHashConfig(fp_weight=0.02, fn_weight=0.98))
    assert kept.columns == df.columns and kept.schema == df.schema
    assert kept.select("id", "cluster_id", "cluster_size").rows() == [("x3", "x3", 3), ("y1", "y1", 1), ("z1", "z1", 1)]
    assert removed.select("id", "reason", "kept_id").rows() == [
        ("x1", "near_duplicate", "x3"),
        ("x2", "near_duplicate", "x3"),
    ]
    assert removed["jaccard"].to_list() == pytest.approx([normalized_jaccard(BASE[0], edited), 1.0])
    # without the priority column the lowest id wins
    kept, removed = near_dedup(df, "text", [], MinHashConfig(fp_weight=0.02, fn_weight=0.98))
    assert "x1" in kept["id"].to_list() and removed["kept_id"].unique().to_list() == ["x1"]


def test_near_dedup_needs_unique_ids():
    with pytest.raises(ValueError, match="unique"):
        near_dedup(corpus([("a", "x"), ("a", "y")]), "text", [], CFG)


variants = st.lists(
    st.tuples(
        st.integers(0, len(BASE) - 1), st.sampled_from(["", "!", " please", "  ", " thanks a lot"]), st.booleans()
    ),
    max_size=14,
)


@settings(max_examples=30, deadline=None)
@given(variants, st.randoms(use_true_random=False))
def test_near_dedup_is_idempotent_and_order_independent(spec, rnd):
    texts = [(light_edit(BASE[i]) if edit else BASE[i]) + tail for i, tail, edit in spec]
    ids = [f"r{k:02d}" for k in range(len(texts))]
    df = pl.DataFrame({"id": ids, "text": texts, "rank": [k % 2 for k in range(len(texts))]})
    cfg = MinHashConfig(fp_weight=0.02, fn_weight=0.98)
    kept, removed = near_dedup(df, "text", ["rank"], cfg)
    again, none = near_dedup(kept, "text", ["rank"], cfg)
    assert none.height == 0 and again["id"].to_list() == kept["id"].to_list()
    order = list(range(df.height))
    rnd.shuffle(order)
    kept2, removed2 = near_dedup(df[order], "text", ["rank"], cfg)
    assert kept2.sort("id").equals(kept.sort("id"))
    assert removed2.equals(removed)
    assert kept.height + removed.height == df.height

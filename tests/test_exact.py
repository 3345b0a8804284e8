import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders.dedup.exact import exact_dedup, normalize, normalize_series


def norm(values):
    return pl.DataFrame({"t": values}).select(normalize(pl.col("t")))["t"].to_list()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ｈow do I\n\tbake BREAD?!", "how do i bake bread"),  # full-width letter, case, whitespace, end punctuation
        ("«Quoted», he said.", "quoted», he said"),  # only the ends lose punctuation
        ("ﬁne\u00a0tuning", "fine tuning"),  # ligature and no-break space (NFKC)
        ("a  -  b", "a - b"),  # inner punctuation and spacing kept, runs collapsed
        ("...", ""),
        ("ÀÉÎ", "àéî"),
    ],
)
def test_normalize_examples(raw, expected):
    assert norm([raw]) == [expected]


def test_normalize_keeps_nulls_and_matches_series_form():
    values = ["A  b", None, "ＡＢ!"]
    assert norm(values) == ["a b", None, "ab"]
    assert normalize_series(pl.Series("x", values)).to_list() == ["a b", None, "ab"]
    assert normalize_series(pl.Series("x", values)).name == "x"


def frame(rows):
    return pl.DataFrame(rows, schema={"id": pl.String, "text": pl.String, "rank": pl.Int64}, orient="row")


def test_exact_dedup_keeps_best_priority_then_lowest_id():
    df = frame(
        [
            ("d", "How do I bake bread?", 2),
            ("b", "how do i  bake bread", 1),
            ("c", "HOW DO I BAKE BREAD!", 1),
            ("a", "Something else", 5),
            ("e", "something else.", 5),
        ]
    )
    kept, removed = exact_dedup(df, "text", ["rank"])
    assert kept["id"].to_list() == ["b", "a"]  # input order of the survivors
    assert kept.columns == df.columns
    assert removed.select("id", "reason", "kept_id").rows() == [
        ("c", "exact_duplicate", "b"),
        ("d", "exact_duplicate", "b"),
        ("e", "exact_duplicate", "a"),
    ]
    assert removed.columns == [*df.columns, "reason", "kept_id"]


def test_exact_dedup_without_priority_uses_id_and_ignores_null_texts():
    df = frame([("z", "same", 0), ("y", "Same", 0), ("x", None, 0), ("w", None, 0)])
    kept, removed = exact_dedup(df, "text", [])
    assert sorted(kept["id"].to_list()) == ["w", "x", "y"]
    assert removed.select("id", "kept_id").rows() == [("z", "y")]


def test_exact_dedup_of_nothing():
    kept, removed = exact_dedup(frame([]), "text", ["rank"])
    assert kept.height == 0 and removed.height == 0


texts = st.lists(st.sampled_from(["Alpha beta", "alpha  BETA", "alpha beta!", "Gamma", "gamma", "delta"]), max_size=12)


@settings(max_examples=60, deadline=None)
@given(texts, st.randoms(use_true_random=False))
def test_exact_dedup_is_idempotent_and_order_independent(values, rnd):
    ids = [f"r{i:02d}" for i in range(len(values))]
    df = pl.DataFrame({"id": ids, "text": values, "rank": [i % 3 for i in range(len(values))]})
    kept, removed = exact_dedup(df, "text", ["rank"])
    again, none = exact_dedup(kept, "text", ["rank"])
    assert none.height == 0 and again.equals(kept)
    order = list(range(df.height))
    rnd.shuffle(order)
    kept2, removed2 = exact_dedup(df[order], "text", ["rank"])
    assert sorted(kept2["id"].to_list()) == sorted(kept["id"].to_list())
    assert removed2.equals(removed)
    assert kept.height == len(set(norm(values)))

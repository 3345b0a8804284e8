import polars as pl

from builders.split import assign, straddling_clusters

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def _units(n=200):
    return pl.DataFrame({
        "cluster_id": [f"c{i:03d}" for i in range(n)],
        "stratum": ["cyber" if i % 4 else "privacy" for i in range(n)],
        "weight": [5 if i % 7 else 10 for i in range(n)],
    })


def test_each_cluster_gets_exactly_one_split():
    units = _units()
    result = assign(units, RATIOS, seed=3)
    assert result.height == units.height and result["cluster_id"].n_unique() == units.height
    assert set(result["split"]) == {"train", "validation", "test"}


def test_stratified_shares_are_close_to_the_ratios():
    units = _units()
    shares = (assign(units, RATIOS, seed=3).join(units, on="cluster_id")
              .group_by("stratum", "split").agg(pl.col("weight").sum())
              .with_columns((pl.col("weight") / pl.col("weight").sum().over("stratum")).alias("share")))
    for stratum, split, _, share in shares.iter_rows():
        assert abs(share - RATIOS[split]) < 0.05, (stratum, split, share)


def test_assignment_ignores_row_order_and_follows_the_seed():
    units = _units()
    first = assign(units, RATIOS, seed=3).sort("cluster_id")
    shuffled = assign(units.sample(fraction=1.0, shuffle=True, seed=9), RATIOS, seed=3).sort("cluster_id")
    assert first.equals(shuffled)
    assert not first.equals(assign(units, RATIOS, seed=4).sort("cluster_id"))


def test_straddling_clusters_are_found():
    rows = pl.DataFrame({"cluster_id": ["a", "a", "b"], "split": ["train", "test", "train"]})
    assert straddling_clusters(rows)["cluster_id"].to_list() == ["a"]

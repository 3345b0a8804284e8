"""Independent leak check of a built folder with datasketch (needs the `bench` extra).

Every prompt of the `default` config is shingled into 5-character n-grams of its
lower-cased, whitespace-folded text (not the project's own normalisation), indexed
in a datasketch MinHashLSH with very loose banding (32 bands of 4 rows, so a pair
at Jaccard 0.8 is a candidate with probability above 0.9999), and every candidate
pair in different splits is checked by exact Jaccard.  Prints the number of
cross-split pairs at or above the threshold and exits 1 if there is any.

    python bench/check_leaks.py dist/v2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl
from datasketch import MinHash, MinHashLSH


def shingles(text: str, n: int = 5) -> set[str]:
    text = " ".join(text.lower().split())
    return {text[i : i + n] for i in range(max(len(text) - n + 1, 1))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()

    files = sorted((args.folder / "data" / "default").glob("*.parquet"))
    rows = pl.concat([pl.read_parquet(f, columns=["id", "prompt"]).with_columns(
        pl.lit(f.name.split("-")[0]).alias("split")) for f in files])
    start = time.perf_counter()
    sets = [shingles(t) for t in rows["prompt"].to_list()]
    splits = rows["split"].to_list()
    encoded = [[s.encode("utf-8") for s in shingle_set] for shingle_set in sets]
    lsh = MinHashLSH(num_perm=128, params=(32, 4))
    signatures = list(MinHash.generator(encoded, num_perm=128, seed=7))
    with lsh.insertion_session() as session:
        for index, signature in enumerate(signatures):
            session.insert(index, signature)
    candidates = leaks = 0
    worst = []
    for index, signature in enumerate(signatures):
        for other in lsh.query(signature):
            if other <= index or splits[other] == splits[index]:
                continue
            candidates += 1
            jaccard = len(sets[index] & sets[other]) / len(sets[index] | sets[other])
            if jaccard >= args.threshold:
                leaks += 1
                worst.append((jaccard, rows["id"][index], rows["id"][other]))
    seconds = time.perf_counter() - start
    print(f"{rows.height} prompts in {len(files)} splits; {candidates} cross-split candidate pairs checked "
          f"in {seconds:.1f} s; {leaks} pairs with Jaccard >= {args.threshold} across splits")
    for jaccard, a, b in sorted(worst, reverse=True)[:10]:
        print(f"  {a} ~ {b}: {jaccard:.3f}")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())

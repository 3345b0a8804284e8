"""Duplicate detection: exact (normalised text) and near (MinHash LSH + exact Jaccard)."""

from builders.dedup.exact import exact_dedup, normalize
from builders.dedup.minhash import (
    MinHashConfig,
    candidate_pairs,
    connected_components,
    cross_split_pairs,
    near_dedup,
    near_duplicate_pairs,
    optimal_param,
    signatures,
)

__all__ = [
    "MinHashConfig",
    "candidate_pairs",
    "connected_components",
    "cross_split_pairs",
    "exact_dedup",
    "near_dedup",
    "near_duplicate_pairs",
    "normalize",
    "optimal_param",
    "signatures",
]

"""Texts to sets of 64-bit shingle ids, computed over a whole column at once.

A text's shingles are its character n-grams (or word n-grams).  Rather than
building a Python set per text, a chunk of texts is laid end to end in one
numpy buffer of code points (decoded from the column's UTF-8 buffer); every
n-gram of the buffer is hashed with a few array operations, and the n-grams
that would run from one text into the next are masked out.  A text shorter
than n contributes one shingle: itself, padded.

Shingle ids are a fixed function of the n-gram alone (no corpus-dependent
tables), so a text's shingles, and hence its MinHash signature, do not depend
on which other texts it is processed with.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

SENTINEL = np.uint64(0x110000)  # one past the last Unicode code point: pads short texts
_POLY = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the polynomial n-gram hash
_WORD_SALT = np.uint64(0xD6E8FEB86659FD93)

# Flat layout used throughout: ``values`` holds every text's items back to back and
# ``offsets`` (length rows + 1) marks where each text's items start and stop.
Flat = tuple[np.ndarray, np.ndarray]


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijection on uint64 that spreads every input bit."""
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def splitmix_stream(seed: int, count: int) -> np.ndarray:
    """``count`` pseudo-random uint64 derived from ``seed`` alone (stable across numpy versions)."""
    steps = np.arange(1, count + 1, dtype=np.uint64) * _POLY
    return mix64(np.uint64(seed % 2**64) + steps)


def utf8(texts: pl.Series) -> Flat:
    """The UTF-8 bytes of every text (nulls count as empty) as one uint8 array plus byte offsets.

    The array is a view of the Arrow string buffer, so it costs no per-text work.
    """
    arrow = texts.cast(pl.String).fill_null("").rechunk().to_arrow()
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    arrow = arrow.cast(pa.large_string())
    _, offset_buf, data_buf = arrow.buffers()
    offsets = np.frombuffer(offset_buf, dtype=np.int64)[arrow.offset : arrow.offset + len(arrow) + 1]
    if data_buf is None or offsets[-1] == offsets[0]:
        return np.empty(0, np.uint8), offsets - offsets[0]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data, offsets - offsets[0]


def decode(utf8_items: Flat) -> Flat:
    """Code points (uint32) of UTF-8 texts given as bytes and byte offsets."""
    data, offsets = utf8_items
    if data.size == 0 or data.max() < 0x80:  # pure ASCII: bytes are code points
        return data.astype(np.uint32), offsets
    return _decode_utf8(data, offsets)


def _decode_utf8(data: np.ndarray, offsets: np.ndarray) -> Flat:
    """Decode valid UTF-8 with array operations: one code point per lead byte."""
    is_lead = (data & 0xC0) != 0x80
    leads = np.flatnonzero(is_lead)
    padded = np.concatenate([data, np.zeros(3, np.uint8)]).astype(np.uint32)
    b0 = padded[leads]
    b1, b2, b3 = (padded[leads + k] & 0x3F for k in (1, 2, 3))
    two = ((b0 & 0x1F) << 6) | b1
    three = ((b0 & 0x0F) << 12) | (b1 << 6) | b2
    four = ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3
    cp = np.where(b0 < 0x80, b0, np.where(b0 < 0xE0, two, np.where(b0 < 0xF0, three, four)))
    leads_before = np.concatenate([[0], np.cumsum(is_lead, dtype=np.int64)])
    return cp.astype(np.uint32), leads_before[offsets]


def words(chars: Flat) -> Flat:
    """One 64-bit hash per space-separated word (texts are normalised, so words are split by single spaces)."""
    cp, offsets = chars
    in_word = cp != 0x20
    row_start = np.zeros(cp.size, bool)
    row_start[offsets[:-1][offsets[:-1] < cp.size]] = True
    word_start = in_word & (row_start | ~np.concatenate([[False], in_word[:-1]]))
    starts_per_text = np.concatenate([[0], np.cumsum(word_start, dtype=np.int64)])[offsets]
    # position of each character within its word, so that "ab" and "ba" differ
    letters = np.flatnonzero(in_word)
    first_letter = np.flatnonzero(word_start[letters])
    run_index = np.cumsum(word_start[letters]) - 1
    position = np.arange(letters.size) - first_letter[run_index]
    keyed = mix64(cp[letters].astype(np.uint64) ^ (position.astype(np.uint64) << np.uint64(32)) ^ _WORD_SALT)
    hashes = np.add.reduceat(keyed, first_letter) if first_letter.size else np.empty(0, np.uint64)
    return hashes | np.uint64(1 << 63), starts_per_text  # top bit set: never equal to SENTINEL


def ngram_ids(items: Flat, n: int, salt: int = 0) -> Flat:
    """Hash every n-gram of consecutive items inside each text to a 64-bit id.

    ``salt`` selects one of many equally good hash functions (ids of one salt are
    a bijective scramble of the ids of another, so sets compare alike).

    The polynomial hash runs over the whole buffer at once; windows that run
    past the end of their text are then dropped.  A text shorter than ``n``
    keeps one window, its own items padded with sentinels, so two equal short
    texts still share a shingle.
    """
    values, offsets = items
    lengths = np.diff(offsets)
    size = values.size
    buf = np.concatenate([values.astype(np.uint64, copy=False), np.full(n - 1, SENTINEL, np.uint64)])
    h = buf[:size].copy()
    for j in range(1, n):
        h *= _POLY
        h += buf[j : size + j]
    long_rows = lengths >= n
    short_rows = (lengths > 0) & ~long_rows
    valid = np.ones(size, bool)
    for j in range(1, n):  # the last n - 1 windows of a long text run into the next text
        valid[offsets[1:][long_rows] - j] = False
    if short_rows.any():
        starts = offsets[:-1][short_rows]
        valid[_short_tails(starts, lengths[short_rows])] = False
        h[starts] = _padded_hash(values, starts, lengths[short_rows], n)
    counts = np.where(long_rows, lengths - n + 1, short_rows.astype(np.int64))
    return _finish(h[valid], salt), np.concatenate([[0], np.cumsum(counts)])


def _short_tails(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions 1 .. length - 1 of each short text: their windows are not shingles."""
    tail = lengths - 1
    first = np.repeat(starts + 1, tail)
    step = np.arange(tail.sum()) - np.repeat(np.cumsum(tail) - tail, tail)
    return first + step


def _padded_hash(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n: int) -> np.ndarray:
    """The same polynomial hash over a short text's items followed by sentinels."""
    h = np.zeros(starts.size, np.uint64)
    for j in range(n):
        item = np.where(j < lengths, values[np.minimum(starts + j, values.size - 1)].astype(np.uint64), SENTINEL)
        if j:
            h *= _POLY
        h += item
    return h


def _finish(h: np.ndarray, salt: int = 0) -> np.ndarray:
    """Spread the polynomial's low-order differences over all bits (a bijection for each salt)."""
    h *= splitmix_stream(salt ^ 0x5EED5EED, 1)[0] | np.uint64(1) if salt else _POLY
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


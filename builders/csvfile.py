"""Reading a CSV file a user supplies: each way it can be unreadable becomes one clear message.

polars reports a wrong encoding, binary data or a stray quote as a parser
error deep in a traceback, and reads UTF-16 as garbage column names.  The
bytes are looked at first, so the message can say what the file is and how
to convert it.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import polars as pl

from .errors import BuildError


def read_csv(path: Path, what: str, *, fix: str = "") -> pl.DataFrame:
    """All columns as strings.  ``what`` names the file's role ("source 'x'"); ``fix`` ends an empty-file message."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BuildError(f"{what}: cannot read {path} ({err.strerror}).") from None
    if not data.strip():
        raise BuildError(f"{what}: {path} is empty. {fix}".rstrip())
    problem = encoding_problem(data)
    if problem:
        raise BuildError(f"{what}: {path} {problem}")
    try:
        frame = pl.read_csv(io.BytesIO(data.removeprefix(codecs.BOM_UTF8)), infer_schema=False)
    except pl.exceptions.PolarsError as err:
        quote = " A double quote (\") is opened and never closed." if data.count(b'"') % 2 else ""
        first = str(err).strip().splitlines()[0][:200]
        raise BuildError(f"{what}: {path} cannot be read as CSV ({first}).{quote} "
                         "Save it as comma-separated UTF-8 text with one header row.") from None
    if frame.height == 0:
        raise BuildError(f"{what}: {path} has a header {frame.columns} but no rows. {fix}".rstrip())
    return frame


def encoding_problem(data: bytes) -> str | None:
    """Why ``data`` is not UTF-8 text, in words a user can act on, or None."""
    sample = data[:4096]
    utf16 = sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        len(sample) > 3 and max(sample[0::2].count(0), sample[1::2].count(0)) > len(sample) // 4)
    if utf16:
        return ("is UTF-16 text, not UTF-8. Convert it, e.g. `iconv -f UTF-16 -t UTF-8 FILE > NEW.csv`, "
                "and use the new file.")
    if b"\x00" in data:
        return "holds binary data (NUL bytes), not CSV text. Check that it is the right file."
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return (f"is not UTF-8 (byte 0x{data[err.start]:02x} on line {line}). If it is Latin-1, convert it, "
                "e.g. `iconv -f LATIN1 -t UTF-8 FILE > NEW.csv`, and use the new file.")
    return None

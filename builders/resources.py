"""Where the shipped ``data/`` and ``cards/`` folders live.

In a source checkout they sit beside ``builders/``; an installed wheel carries
them inside the package (``setup.cfg`` maps them there).  ``MTS_DATA_DIR``
overrides ``data/`` so that users can try their own recipes and templates.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir() and (_PACKAGE.parent / "setup.cfg").is_file():
        return checkout
    raise FileNotFoundError(f"cannot find the shipped '{name}/' folder next to {_PACKAGE}")


def data_dir() -> Path:
    override = os.environ.get("MTS_DATA_DIR")
    return Path(override) if override else _shipped("data")


def cards_dir() -> Path:
    return _shipped("cards")

"""Rupiah: integer amounts everywhere, written the Indonesian way in messages."""

from __future__ import annotations


def rupiah(amount: int) -> str:
    """``rupiah(25_000_000) == "Rp25.000.000"``."""
    return "Rp" + f"{amount:,}".replace(",", ".")

"""Model prices, for events whose gateway did not compute ``cost_usd``."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "default": ModelPrice(3.0, 15.0, 0.3),
}


def cost_usd(
    model: str,
    input_tokens: int,
    cached_input_tokens: int,
    output_tokens: int,
    prices: Mapping[str, ModelPrice] = DEFAULT_PRICES,
) -> float:
    """Cost of one request; cached input tokens are part of the input, billed at the cached rate."""
    price = prices.get(model) or prices["default"]
    fresh_input = max(0, input_tokens - cached_input_tokens)
    return (
        fresh_input * price.input_per_mtok
        + cached_input_tokens * price.cached_input_per_mtok
        + output_tokens * price.output_per_mtok
    ) / 1_000_000


def load_prices(path: Path) -> dict[str, ModelPrice]:
    """Prices from a TOML file: ``[models."name"] input = .., output = .., cached_input = ..``."""
    data = tomllib.loads(path.read_text())
    prices = dict(DEFAULT_PRICES)
    for name, row in data.get("models", {}).items():
        prices[name] = ModelPrice(
            float(row["input"]), float(row["output"]), float(row.get("cached_input", 0.0))
        )
    return prices

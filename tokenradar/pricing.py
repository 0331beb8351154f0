"""Model prices, for events whose gateway did not compute ``cost_usd``.

Prices are USD per million tokens. Cached input tokens are part of the input and billed at the
cached rate. A ``default`` entry prices models the table does not know.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float


DEFAULT_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        "claude-haiku-4": ModelPrice(0.80, 4.00, 0.08),
        "claude-sonnet-4": ModelPrice(3.00, 15.00, 0.30),
        "claude-opus-4": ModelPrice(15.00, 75.00, 1.50),
        "gpt-5-mini": ModelPrice(0.25, 2.00, 0.025),
        "gpt-5": ModelPrice(1.25, 10.00, 0.125),
        "o4-reasoning": ModelPrice(10.00, 40.00, 2.50),
        "gemini-2.5-flash": ModelPrice(0.30, 2.50, 0.075),
        "text-embed-3": ModelPrice(0.13, 0.0, 0.13),
        "default": ModelPrice(3.00, 15.00, 0.30),
    }
)


def cost_usd(
    model: str,
    input_tokens: int,
    cached_input_tokens: int,
    output_tokens: int,
    prices: Mapping[str, ModelPrice] = DEFAULT_PRICES,
) -> float:
    """Cost of one request.

    >>> round(cost_usd("claude-sonnet-4", 1_000_000, 0, 0), 2)
    3.0
    >>> round(cost_usd("claude-sonnet-4", 1_000_000, 1_000_000, 0), 2)
    0.3
    """
    price = prices.get(model) or prices["default"]
    fresh_input = max(0, input_tokens - cached_input_tokens)
    return (
        fresh_input * price.input_per_mtok
        + cached_input_tokens * price.cached_input_per_mtok
        + output_tokens * price.output_per_mtok
    ) / 1_000_000


def load_prices(path: Path) -> dict[str, ModelPrice]:
    """Prices from TOML: ``[models."name"]`` with ``input``, ``output``, ``cached_input``.

    Entries override the defaults; models the file does not name keep their default price.
    """
    data = tomllib.loads(path.read_text())
    prices = dict(DEFAULT_PRICES)
    for name, row in data.get("models", {}).items():
        try:
            prices[name] = ModelPrice(
                float(row["input"]), float(row["output"]), float(row.get("cached_input", 0.0))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: model {name!r} needs numeric input and output") from exc
    return prices

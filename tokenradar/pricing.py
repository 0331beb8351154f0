"""Model prices and the cost of a request.

Gateways do not always report what a request cost, so the service prices tokens itself from a
table of USD per million tokens. Cached input tokens are part of the input token count and are
billed at the (much lower) cached rate instead of the input rate.

The default table uses placeholder prices that look like late-2026 list prices; real deployments
load their negotiated prices from a TOML file with :func:`load_prices`::

    ["claude-sonnet-4"]
    input = 3.0
    cached_input = 0.30
    output = 15.0

    [default]
    input = 3.0
    output = 15.0

Examples
--------
>>> round(cost_usd("claude-sonnet-4", 1_000_000, 0, 100_000), 2)
4.5
>>> round(cost_usd("claude-sonnet-4", 1_000_000, 1_000_000, 0), 2)
0.3
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

logger = logging.getLogger(__name__)

DEFAULT_MODEL_KEY = "default"
"""The entry used for models that are not in the table."""

TOKENS_PER_PRICE_UNIT = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens for one model.

    Parameters
    ----------
    input_per_million
        Price of an uncached input token, per million.
    cached_input_per_million
        Price of an input token served from the prompt cache, per million.
    output_per_million
        Price of an output token, per million.
    """

    input_per_million: float
    cached_input_per_million: float
    output_per_million: float

    def __post_init__(self) -> None:
        for name in ("input_per_million", "cached_input_per_million", "output_per_million"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"{name} must be non-negative, got {value}")


DEFAULT_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        # Small, cheap models: the bulk of chat, classification and batch traffic.
        "gpt-5-mini": ModelPrice(0.15, 0.015, 0.60),
        "claude-haiku-4": ModelPrice(0.80, 0.08, 4.00),
        # Mid-tier workhorses for coding assistants and agents.
        "gpt-5": ModelPrice(2.50, 0.25, 10.00),
        "claude-sonnet-4": ModelPrice(3.00, 0.30, 15.00),
        # Reasoning and frontier models: switching to these is what multiplies the bill.
        "o4-reasoning": ModelPrice(10.00, 2.50, 40.00),
        "claude-opus-4": ModelPrice(15.00, 1.50, 75.00),
        # Embeddings produce no output tokens.
        "text-embed-3": ModelPrice(0.02, 0.02, 0.00),
        # Unknown models are priced like a mid-tier model rather than for free, so that a new
        # model shows up in the cost figures instead of hiding in them.
        DEFAULT_MODEL_KEY: ModelPrice(3.00, 0.30, 15.00),
    }
)


def price_for(model: str, prices: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> ModelPrice:
    """The price of ``model``, or the table's ``"default"`` entry when the model is unknown.

    Raises
    ------
    KeyError
        When the model is unknown and the table has no ``"default"`` entry.
    """
    found = prices.get(model)
    if found is not None:
        return found
    return prices[DEFAULT_MODEL_KEY]


def cost_usd(
    model: str,
    input_tokens: int,
    cached_input_tokens: int,
    output_tokens: int,
    prices: Mapping[str, ModelPrice] = DEFAULT_PRICES,
) -> float:
    """What one request cost in USD.

    Parameters
    ----------
    model
        Model name; unknown models are priced with the ``"default"`` entry.
    input_tokens
        All input tokens of the request, cached ones included.
    cached_input_tokens
        The part of ``input_tokens`` served from the prompt cache. Values above
        ``input_tokens`` are capped at it, since a gateway cannot cache more than it was sent.
    output_tokens
        Output tokens.
    prices
        The price table.

    Returns
    -------
    float
        Cost in USD.

    Raises
    ------
    ValueError
        If a token count is negative.
    """
    if input_tokens < 0 or cached_input_tokens < 0 or output_tokens < 0:
        raise ValueError(
            "token counts must be non-negative, got "
            f"input={input_tokens} cached={cached_input_tokens} output={output_tokens}"
        )
    price = price_for(model, prices)
    cached = min(cached_input_tokens, input_tokens)
    uncached = input_tokens - cached
    return (
        uncached * price.input_per_million
        + cached * price.cached_input_per_million
        + output_tokens * price.output_per_million
    ) / TOKENS_PER_PRICE_UNIT


def load_prices(path: str | Path) -> dict[str, ModelPrice]:
    """Read a price table from a TOML file.

    Each top-level table is a model name with the keys ``input``, ``output`` and optionally
    ``cached_input`` (USD per million tokens; it defaults to the input price, i.e. no cache
    discount). If the file has no ``"default"`` table, the built-in default entry is added so
    that unknown models can still be priced.

    Parameters
    ----------
    path
        The TOML file.

    Returns
    -------
    dict[str, ModelPrice]
        Model name to price.

    Raises
    ------
    ValueError
        If an entry is not a table, lacks ``input`` or ``output``, has unknown keys, or has a
        non-numeric or negative price.
    """
    with Path(path).open("rb") as handle:
        document = tomllib.load(handle)
    prices: dict[str, ModelPrice] = {}
    allowed_keys = {"input", "cached_input", "output"}
    for model, entry in document.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry {model!r} must be a table, got {type(entry).__name__}")
        unknown = set(entry) - allowed_keys
        if unknown:
            raise ValueError(f"{path}: entry {model!r} has unknown keys {sorted(unknown)}")
        if "input" not in entry or "output" not in entry:
            raise ValueError(f"{path}: entry {model!r} needs both 'input' and 'output'")
        values: dict[str, float] = {}
        for key in allowed_keys & set(entry):
            value = entry[key]
            # bool is an int subclass; a price of `true` is a typo, not a number.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{path}: {model}.{key} must be a number, got {value!r}")
            values[key] = float(value)
        prices[model] = ModelPrice(
            input_per_million=values["input"],
            cached_input_per_million=values.get("cached_input", values["input"]),
            output_per_million=values["output"],
        )
    if DEFAULT_MODEL_KEY not in prices:
        logger.debug("%s has no 'default' entry; using the built-in default price", path)
        prices[DEFAULT_MODEL_KEY] = DEFAULT_PRICES[DEFAULT_MODEL_KEY]
    return prices

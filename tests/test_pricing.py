"""The default price table, the cost rule and the TOML loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenradar.pricing import (
    DEFAULT_MODEL_KEY,
    DEFAULT_PRICES,
    ModelPrice,
    cost_usd,
    load_prices,
    price_for,
)


def test_default_table_is_frozen_and_has_a_fallback() -> None:
    assert DEFAULT_MODEL_KEY in DEFAULT_PRICES
    with pytest.raises(TypeError):
        DEFAULT_PRICES["claude-opus-4"] = ModelPrice(0, 0, 0)  # type: ignore[index]


def test_price_tiers_are_ordered_as_expected() -> None:
    def blended(model: str) -> float:
        return cost_usd(model, 10_000, 0, 1_000)

    assert blended("gpt-5-mini") < blended("claude-haiku-4") < blended("claude-sonnet-4")
    assert blended("claude-sonnet-4") < blended("o4-reasoning") < blended("claude-opus-4")
    assert cost_usd("text-embed-3", 1_000, 0, 0) > 0


def test_cost_of_uncached_input_and_output() -> None:
    price = DEFAULT_PRICES["claude-opus-4"]
    expected = (2_000 * price.input_per_million + 500 * price.output_per_million) / 1e6
    assert cost_usd("claude-opus-4", 2_000, 0, 500) == pytest.approx(expected)


def test_cached_tokens_are_part_of_input_and_billed_at_the_cached_rate() -> None:
    price = DEFAULT_PRICES["claude-sonnet-4"]
    expected = (400 * price.input_per_million + 600 * price.cached_input_per_million) / 1e6
    assert cost_usd("claude-sonnet-4", 1_000, 600, 0) == pytest.approx(expected)
    assert cost_usd("claude-sonnet-4", 1_000, 600, 0) < cost_usd("claude-sonnet-4", 1_000, 0, 0)


def test_cached_tokens_above_input_are_capped() -> None:
    assert cost_usd("gpt-5", 100, 500, 0) == cost_usd("gpt-5", 100, 100, 0)


def test_unknown_models_use_the_default_entry() -> None:
    assert price_for("some-new-model") == DEFAULT_PRICES[DEFAULT_MODEL_KEY]
    assert cost_usd("some-new-model", 1_000, 0, 1_000) == cost_usd("default", 1_000, 0, 1_000)


def test_unknown_model_without_default_raises() -> None:
    with pytest.raises(KeyError):
        cost_usd("mystery", 1, 0, 1, prices={"gpt-5": DEFAULT_PRICES["gpt-5"]})


def test_negative_tokens_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        cost_usd("gpt-5", -1, 0, 0)


def test_negative_prices_are_rejected() -> None:
    with pytest.raises(ValueError):
        ModelPrice(-1.0, 0.0, 0.0)


def test_load_prices_reads_toml(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '["claude-sonnet-4"]\ninput = 2.5\ncached_input = 0.25\noutput = 12\n\n'
        '["in-house-model"]\ninput = 1\noutput = 2\n'
    )
    prices = load_prices(path)
    assert prices["claude-sonnet-4"] == ModelPrice(2.5, 0.25, 12.0)
    # No cached price given: no cache discount.
    assert prices["in-house-model"] == ModelPrice(1.0, 1.0, 2.0)
    # The built-in fallback is added when the file has none.
    assert prices[DEFAULT_MODEL_KEY] == DEFAULT_PRICES[DEFAULT_MODEL_KEY]
    assert cost_usd("in-house-model", 1_000_000, 0, 1_000_000, prices) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('["m"]\ninput = 1\n', "needs both"),
        ('["m"]\ninput = 1\noutput = "two"\n', "must be a number"),
        ('["m"]\ninput = 1\noutput = 2\nsurcharge = 3\n', "unknown keys"),
        ('["m"]\ninput = -1\noutput = 2\n', "non-negative"),
        ("m = 3\n", "must be a table"),
    ],
)
def test_load_prices_rejects_bad_files(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(body)
    with pytest.raises(ValueError, match=message):
        load_prices(path)

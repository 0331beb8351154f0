"""The fixed vocabulary of the simulator: tools, models, request shapes, names.

Request sizes are log-normal per tool: chat prompts are small, IDE assistants send a few files of
context, agents carry large and mostly cached contexts, batch jobs send many small uniform
requests. :class:`RequestShapes` draws token counts for many requests at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from tokenradar.pricing import DEFAULT_PRICES

TOOLS: Final[tuple[str, ...]] = ("chat", "ide-assistant", "agent", "code-review", "batch")
TOOL_INDEX: Final[dict[str, int]] = {name: index for index, name in enumerate(TOOLS)}
INTERACTIVE_TOOLS: Final[tuple[str, ...]] = TOOLS[:4]
"""The tools people use; ``batch`` is only used by service accounts."""

BATCH_TOOL: Final[int] = TOOL_INDEX["batch"]
AGENT_TOOL: Final[int] = TOOL_INDEX["agent"]

MODELS: Final[tuple[str, ...]] = tuple(name for name in DEFAULT_PRICES if name != "default")
MODEL_INDEX: Final[dict[str, int]] = {name: index for index, name in enumerate(MODELS)}
EMBEDDING_MODEL: Final[str] = "text-embed-3"

# Typical share of each model per tool across the organisation; each team draws its own mix
# around these. Frontier and reasoning models are rare in normal traffic, which is what makes a
# switch to them stand out in cost while token volume stays flat.
BASE_MODEL_MIX: Final[dict[str, dict[str, float]]] = {
    "chat": {
        "claude-sonnet-4": 0.32,
        "gpt-5-mini": 0.25,
        "gpt-5": 0.20,
        "claude-haiku-4": 0.17,
        "claude-opus-4": 0.03,
        "o4-reasoning": 0.03,
    },
    "ide-assistant": {
        "claude-sonnet-4": 0.55,
        "gpt-5": 0.22,
        "claude-haiku-4": 0.12,
        "gpt-5-mini": 0.11,
    },
    "agent": {
        "claude-sonnet-4": 0.68,
        "gpt-5": 0.22,
        "claude-opus-4": 0.04,
        "o4-reasoning": 0.06,
    },
    "code-review": {
        "claude-sonnet-4": 0.50,
        "gpt-5": 0.30,
        "o4-reasoning": 0.08,
        "claude-haiku-4": 0.10,
        "gpt-5-mini": 0.02,
    },
    "batch": {
        "claude-haiku-4": 0.40,
        "gpt-5-mini": 0.40,
        "text-embed-3": 0.20,
    },
}

CHEAP_MODELS: Final[tuple[str, ...]] = ("gpt-5-mini", "claude-haiku-4")
FRUGAL_TEAM_SHARE: Final[float] = 0.35
"""Share of teams that run mostly on small models (product features, support tooling)."""
FRUGAL_CHEAP_SHARE: Final[float] = 0.95
"""Share of a frugal team's interactive requests that go to small models."""
FRUGAL_AGENT_WEIGHT: Final[float] = 0.1

BASE_TOOL_MIX: Final[dict[str, float]] = {
    "chat": 0.40,
    "ide-assistant": 0.35,
    "agent": 0.15,
    "code-review": 0.10,
}

# Models a team might be switched to, cheapest first: the switch picks the cheapest one that can
# reach the requested cost factor, so that a 5x switch is a plausible move to a mid-tier or
# reasoning model rather than always to the frontier model.
EXPENSIVE_MODELS: Final[tuple[str, ...]] = (
    "gpt-5",
    "claude-sonnet-4",
    "o4-reasoning",
    "claude-opus-4",
)


@dataclass(frozen=True, slots=True)
class ToolShape:
    """Log-normal request sizes of one tool (medians in tokens) and its prompt-cache use."""

    input_median: float
    input_sigma: float
    output_median: float
    output_sigma: float
    cache_probability: float
    """Probability that a request hits the prompt cache at all."""
    cache_share_mean: float
    """Mean share of input tokens served from the cache when it does."""


TOOL_SHAPES: Final[dict[str, ToolShape]] = {
    "chat": ToolShape(1_500, 1.0, 450, 0.9, 0.35, 0.45),
    "ide-assistant": ToolShape(6_000, 0.8, 250, 0.8, 0.85, 0.65),
    "agent": ToolShape(28_000, 0.9, 1_100, 0.9, 0.92, 0.75),
    "code-review": ToolShape(12_000, 0.7, 800, 0.6, 0.40, 0.40),
    "batch": ToolShape(2_500, 0.4, 350, 0.4, 0.30, 0.50),
}

MAX_INPUT_TOKENS: Final[int] = 400_000
"""Context limit of the largest models; larger draws are capped here."""
MAX_OUTPUT_TOKENS: Final[int] = 64_000

# Concentration of the beta distribution of the cached share: high enough that cache shares
# cluster around their mean as they do for a stable system prompt plus growing conversation.
_CACHE_SHARE_CONCENTRATION: Final[float] = 8.0


class RequestShapes:
    """Draws token counts of requests, vectorised over many requests.

    Parameters
    ----------
    size_scale
        Multiplier on all median sizes.
    sigma_scale
        Multiplier on all log-normal sigmas.
    cache_hit_scale
        Multiplier on the mean cached share.
    """

    def __init__(self, size_scale: float, sigma_scale: float, cache_hit_scale: float) -> None:
        shapes = [TOOL_SHAPES[name] for name in TOOLS]
        self._input_mu = np.log([s.input_median * size_scale for s in shapes])
        self._input_sigma = np.array([s.input_sigma * sigma_scale for s in shapes])
        self._output_mu = np.log([s.output_median * size_scale for s in shapes])
        self._output_sigma = np.array([s.output_sigma * sigma_scale for s in shapes])
        self._cache_probability = np.array([s.cache_probability for s in shapes])
        share = np.minimum([s.cache_share_mean * cache_hit_scale for s in shapes], 0.95)
        self._cache_alpha = share * _CACHE_SHARE_CONCENTRATION
        self._cache_beta = (1.0 - share) * _CACHE_SHARE_CONCENTRATION

    def sample(
        self,
        rng: np.random.Generator,
        tool_indices: npt.NDArray[np.intp],
        uses_cache: npt.NDArray[np.bool_],
        produces_output: npt.NDArray[np.bool_],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Input, cached input and output tokens for requests of the given tools.

        Parameters
        ----------
        rng
            Random source.
        tool_indices
            Index into :data:`TOOLS` per request.
        uses_cache
            Whether the request's gateway uses prompt caching at all.
        produces_output
            False for embedding requests, which produce no output tokens.
        """
        count = tool_indices.shape[0]
        input_tokens = np.exp(
            self._input_mu[tool_indices]
            + self._input_sigma[tool_indices] * rng.standard_normal(count)
        )
        output_tokens = np.exp(
            self._output_mu[tool_indices]
            + self._output_sigma[tool_indices] * rng.standard_normal(count)
        )
        input_int = np.clip(np.rint(input_tokens), 1, MAX_INPUT_TOKENS).astype(np.int64)
        output_int = np.clip(np.rint(output_tokens), 1, MAX_OUTPUT_TOKENS).astype(np.int64)
        output_int[~produces_output] = 0
        hits = (rng.random(count) < self._cache_probability[tool_indices]) & uses_cache
        shares = rng.beta(self._cache_alpha[tool_indices], self._cache_beta[tool_indices])
        cached_int = np.where(hits, np.floor(input_int * shares), 0).astype(np.int64)
        return input_int, cached_int, output_int


TEAM_NAMES: Final[tuple[str, ...]] = (
    "payments", "search", "checkout", "ml-platform", "data-eng", "mobile", "web-frontend",
    "infra", "security", "growth", "ads", "recsys", "identity", "billing", "support-tools",
    "docs", "design-systems", "sre", "observability", "fraud", "risk", "analytics", "crm",
    "logistics", "catalog", "pricing", "notifications", "messaging", "video", "maps",
    "platform-api", "devex", "qa-automation", "legal-tech", "finance-systems", "hr-systems",
    "research", "llm-apps", "partner-api", "edge", "storage", "compute", "networking",
    "data-science", "forecasting", "localisation", "marketplace", "trust-safety",
)  # fmt: skip

FIRST_NAMES: Final[tuple[str, ...]] = (
    "ana", "ben", "chloe", "dmitri", "elena", "farid", "grace", "hiro", "ines", "jonas",
    "kavya", "liam", "maria", "noah", "olga", "pedro", "qi", "rosa", "sami", "tara",
    "umar", "vera", "wei", "ximena", "yusuf", "zoe", "amir", "bea", "carlos", "dana",
    "emeka", "fatima", "gabriel", "hana", "ivan", "julia", "kenji", "lena", "mateo", "nadia",
)  # fmt: skip

LAST_NAMES: Final[tuple[str, ...]] = (
    "adams", "bauer", "costa", "dubois", "eriksen", "fischer", "garcia", "haddad", "ito",
    "jensen", "kim", "lopez", "moreau", "nakamura", "okafor", "petrov", "quinn", "rossi",
    "silva", "tanaka", "ueda", "varga", "weber", "xu", "yilmaz", "zhang", "brown", "novak",
    "singh", "kowalski", "murphy", "olsen", "patel", "reyes", "schmidt", "tran", "vogel",
    "walsh", "young", "ziegler",
)  # fmt: skip

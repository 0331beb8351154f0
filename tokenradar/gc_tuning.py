"""Garbage-collector thresholds for the long-running commands (the worker, ``replay``).

CPython's cyclic collector runs a young collection every 700 net allocations of container
objects, and every so often a full one that walks every live object. The core allocates a few
containers per event (the decoded dict, the event, window accumulators) that reference counting
frees at once, and keeps a large live state (windows, detector series, dedup ids), so with the
default thresholds a tenth of the in-process core's time went to collections that found almost
nothing (``docs/benchmark.md``, "Cheaper parsing and windows"). A first threshold of 50,000
makes young collections rare; the older generations keep their default ratios, so full
collections still happen and cyclic garbage is still reclaimed. What is collected, and so what
the service computes, does not change; only when.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

GC_THRESHOLDS = (50_000, 10, 10)


def tune_garbage_collector() -> None:
    """Set :data:`GC_THRESHOLDS` for this process."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    log.debug("garbage collector thresholds %s (were %s)", GC_THRESHOLDS, previous)

"""The labelled benchmark: simulated usage with incidents, detectors run end to end, a scorecard.

* :mod:`tokenradar.evaluation.windows` — a simple event-time window aggregator (the semantics of
  the core's windows) so a benchmark can run without the streaming core;
* :mod:`tokenradar.evaluation.runner` — runs a detector factory over a stream and collects alerts,
  either through the simple aggregator or through the core's ``replay`` driver;
* :mod:`tokenradar.evaluation.scoring` — recall per incident kind, detection delay, false alarms per
  team-week, whether user-level incidents name the right user;
* :mod:`tokenradar.evaluation.benchmark` — the scenarios (seeds, sizes, generator variations);
* :mod:`tokenradar.evaluation.plots` — pictures of incidents: series, expected band, alerts.
"""

"""The streaming core: windows, detection and alert decisions, driven by event time."""

"""Alert contract, lifecycle and notifiers."""

"""somagent.events."""

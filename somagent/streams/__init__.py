"""somagent.streams."""

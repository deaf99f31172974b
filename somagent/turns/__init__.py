"""somagent.turns."""

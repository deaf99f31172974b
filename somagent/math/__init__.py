"""somagent.math."""

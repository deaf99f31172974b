"""somagent.api."""

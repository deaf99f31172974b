"""somagent.tools."""

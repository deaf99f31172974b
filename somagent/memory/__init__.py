"""somagent.memory."""

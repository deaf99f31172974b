"""somagent.stack."""

"""somagent.projections."""

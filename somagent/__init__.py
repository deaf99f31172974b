"""SomaGent Stream."""

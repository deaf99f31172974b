"""Process entry points: the roles (`somagent serve <role>`) and their supervisor."""

"""Celery task modules only: thin wrappers that parse arguments and call ``directorybolt``."""

"""Prefect tasks: each calls one library function and adds retries, caching, logs, artifacts."""

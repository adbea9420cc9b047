"""Keeping calls to other systems from taking a service down with them (`breaker`)."""

"""Persistence: the database, its tables and migrations, and the store the services use."""

"""Alembic migrations for Herald's schema, applied on start by :func:`bot.storage.migrate`."""

"""Alembic environment: the URL and connection come from phishbot (bot.store.database), never from alembic.ini."""

from alembic import context

from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "phishbot migrations run through bot.store.database.Database.migrate(), which passes a connection"
        )
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()

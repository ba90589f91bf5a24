"""Persistence: async SQLAlchemy engine, models, owner-scoped repositories, migrations."""

"""SQLAlchemy tables, Alembic migrations and repositories. The ORM stays in this package."""

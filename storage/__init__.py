"""The Q&A store: exchanges, feedback, corrections, taught pairs and training runs (SQLAlchemy 2.0), its
Alembic migrations, and export / import of datasets in ``training``'s record schema.

Entry points call ``storage.db.open_store(url)``; everything else takes a ``Session`` (``storage.repo``) or
the session factory (``storage.export``). May import the standard library, SQLAlchemy and Alembic; never
``bot`` (the application that uses it) nor ``training`` (exports are files that training reads);
``storage/ruff.toml`` has ruff check both.
"""

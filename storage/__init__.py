"""The Q&A store: exchanges, feedback, corrections, taught pairs and training runs (SQLAlchemy 2.0).

Entry points call ``storage.db.open_store(url)``; everything else takes a ``Session`` (``storage.repo``) or
the session factory (``storage.export``). Imports neither ``bot`` nor ``training``.
"""

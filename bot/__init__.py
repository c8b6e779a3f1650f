"""The application: everything that runs qabot for people, on top of ``training`` and ``storage``.

- ``answerer`` (the batching answer service) and ``torch_thread`` (the one thread that runs torch);
- ``async_store``: the async facade over ``storage`` that every front end uses for the database;
- ``retrain/``: the retrain job, its state, the gate and the trainer subprocess;
- ``discord_app/``: the Discord client, permissions, message chunking and cogs;
- ``terminal``, ``launcher``, ``admin_actions``, ``status``, ``settings`` and the ``qabot`` CLI (``cli/``).

May import ``training`` and ``storage`` (the arrows run ``bot → training`` and ``bot → storage``);
only ``bot.discord_app`` imports ``discord``. Ruff's banned-import rules (pyproject.toml) enforce both.
"""

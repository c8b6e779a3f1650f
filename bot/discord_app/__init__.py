"""The Discord front end: the ``QABot`` client, admin permissions, message chunking and the cogs.

The only package that imports ``discord``. It may import the rest of ``bot`` (the ``Answerer``, the
``async_store`` facade, the retrain job, ``admin_actions``), and through them ``training``/``storage``;
nothing outside it imports it except the launcher, when it starts the bot.
"""

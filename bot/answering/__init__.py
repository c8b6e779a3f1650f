"""The answer service: many concurrent askers, one model.

- ``answerer`` — the ``Answerer``: the queue, the worker that drives the running batch, teach/vote hooks;
- ``scheduling`` — when questions join the running batch, and the cache of the model's answers;
- ``answer_path`` — what a question gets: retrieval, then the zone, then (for answers) the model;
- ``knowledge`` — what the bot knows beyond its checkpoint: taught pairs, corrections, learned wordings;
- ``knowledge_sync`` — every process serving one store serves every change (the store's change log);
- ``torch_thread`` — the one thread that loads models and generates.

May import ``training`` and ``storage``; never ``discord``. Import the modules themselves.
"""

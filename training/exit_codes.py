"""The exit codes of ``python -m training`` and of every ``qabot`` command (``qabot run`` included), defined
once here because ``bot`` may import ``training`` and not the other way round:

- ``EXIT_OK`` 0;
- ``EXIT_ERROR`` 1: the command could not do its job (an unreadable store, a failed write, a trainer that
  crashed);
- ``EXIT_USAGE`` 2: the user has to change something and retry (an option, a setting, an input file, the
  Discord token, and no model or a damaged one: the message says how to train one; every command that needs
  a model, ``qabot run`` included);
- ``EXIT_UNREACHABLE`` 3: Discord could not be reached;
- ``EXIT_INTERRUPTED`` 130: 128 + SIGINT, what a shell reports for Ctrl-C (training stopped; the previous
  model is untouched).
"""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

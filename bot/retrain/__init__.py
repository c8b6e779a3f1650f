"""The retrain component: retrain the serving model from the store while the bot keeps answering.

- ``job``: ``RetrainJob`` (export → trainer subprocess → gate → swap), one run at a time;
- ``inputs``: what a run trains on (the store's export and more) and the trainer's command line;
- ``state``: what a run is asked to do, how far it got and how it ended;
- ``gate``: a new checkpoint replaces the serving one only if it is not worse on a fixed eval set;
- ``trainer_process``: one ``python -m training --progress json`` child, followed line by line.

May import ``bot.answering.answerer``/``bot.answering.torch_thread``/``bot.async_store``, ``training`` and
``storage``; never ``discord`` (the Discord cogs and the terminal both drive it).
"""

from bot.retrain.job import RetrainJob
from bot.retrain.state import RetrainBusy, RetrainData, RetrainOptions, RetrainProgress, RetrainResult

__all__ = ["RetrainBusy", "RetrainData", "RetrainJob", "RetrainOptions", "RetrainProgress", "RetrainResult"]

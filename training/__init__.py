"""Everything about the model: dataset loading and cleaning (``training.data``), the prompt contract,
tokenizer and model construction, fine-tuning with HF ``Trainer``, evaluation, the retrieval index over the
known Q&A, checkpoints, quantization and the ``Generator`` that answers from a checkpoint. Run it as
``python -m training``.

May import the standard library and the ML stack (torch, transformers, tokenizers, ...); never ``bot`` (the
application that uses this package) nor ``storage`` (the store talks to training only through dataset
files in the ``{"question", "answer"}`` record schema). ``training/ruff.toml`` has ruff check both.
"""

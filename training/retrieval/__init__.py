"""Retrieval: find the known question nearest to what someone typed, and decide the answer's zone.

- ``index`` — the ``RetrievalIndex`` a checkpoint carries (built at training time, saved in ``retrieval/``);
- ``lexical`` — a question's terms and BM25 over words and character 3-grams;
- ``embedder`` — the sentence encoder (all-MiniLM-L6-v2, shipped inside a pip package);
- ``zones`` — answer / "did you mean" / not sure, and their calibration on probes;
- ``calibrate`` — the model-confidence threshold.

May import ``training.data``, ``training.prompt`` and the CPU kernels of ``training.runtime.quantize``;
never the generating runtime, ``bot`` or ``storage`` (ruff.toml here).
Import the modules themselves (``from training.retrieval.index import RetrievalIndex``): this package
re-exports nothing, so no module here can import it back.
"""

"""The model runtime: load a checkpoint and generate answers.

- ``generate`` — the ``Generator``: a checkpoint loaded for answering, and batch generation;
- ``batching`` — continuous batching: rows join and leave a running batch between decoding steps;
- ``decoders`` — incremental decoders with a KV cache, and drafts (a known answer verified in one pass);
- ``quantize``, ``gptq`` — precision for inference: int8 on CPU (GPTQ weights), fp16/bf16 on GPU.

May import the rest of ``training`` (the prompt, the checkpoint contract, retrieval), never ``bot`` or
``storage``. Import the modules themselves: this package re-exports nothing.
"""

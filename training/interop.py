"""What makes a checkpoint answer in plain transformers (and train in TRL) the way qabot serves it.

``prepare_for_transformers`` sets, before ``save_pretrained``:

- the model's ``generation_config``: greedy (``do_sample=False``), the run's ``max_new_tokens``, EOS/pad ids
  and the prompt's stop strings, so ``pipeline("text-generation", model=folder)`` decodes as the
  ``Generator`` does instead of falling back to the pipeline's sampling defaults;
- the tokenizer's ``model_max_length`` = the model's context (``n_positions``), so transformers warns about
  an over-long prompt by name and ``pipeline(..., handle_long_generation="hole")`` keeps the prompt's end
  with room for the answer; ``truncation_side="left"`` for the same reason (the end holds ``Answer:``);
- the tokenizer's ``chat_template`` (``training.prompt.chat_template``), so chat messages render as the
  prompt the model was trained on.

transformers needs the tokenizer to apply stop strings: ``pipe(q, tokenizer=pipe.tokenizer)`` or
``model.generate(..., tokenizer=tokenizer)``; without it generate raises a ValueError that says so.
"""

from __future__ import annotations

from typing import Any

from training.prompt import STOP_STRINGS, chat_template


def model_context(model: Any) -> int:
    """The most positions the model can attend over (GPT-2: ``n_positions``)."""
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def qabot_generation_config(tokenizer: Any, max_new_tokens: int) -> Any:
    """A ``transformers.GenerationConfig`` holding qabot's decoding: greedy, stop at EOS or a new turn."""
    from transformers import GenerationConfig

    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos,
        pad_token_id=pad,
        stop_strings=list(STOP_STRINGS),
    )


def prepare_for_transformers(model: Any, tokenizer: Any, max_new_tokens: int) -> None:
    """Set the generation config, context length and chat template that ``save_pretrained`` then writes."""
    model.generation_config = qabot_generation_config(tokenizer, max_new_tokens)
    tokenizer.model_max_length = model_context(model)
    tokenizer.truncation_side = "left"
    # save_pretrained writes the init kwargs (and model_max_length); naming it there makes it persist.
    tokenizer.init_kwargs["truncation_side"] = "left"
    tokenizer.chat_template = chat_template()

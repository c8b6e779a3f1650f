"""The prompt contract: the one place that decides how a question (and its answer) is shown to the model.

Training, evaluation and generation all call these functions, so the model always sees at inference
time exactly the shape it was trained on. ``chat_template`` writes the same contract as a Jinja chat
template for the checkpoint's tokenizer, so plain transformers and TRL render it too.
"""

from __future__ import annotations

# How many new tokens an answer may have, unless told otherwise: every default (settings, generation,
# evaluation, the trainer's metrics, the model card) is this one.
DEFAULT_MAX_NEW_TOKENS = 64

QUESTION_MARKER = "Question:"
ANSWER_MARKER = "Answer:"
# Strings that, if the model starts producing them, mean the answer is over (it began a new turn).
STOP_STRINGS = ("\nQuestion:", "\nAnswer:")


def format_prompt(question: str) -> str:
    """The text the model is given for a question; generation continues right after it."""
    return f"{QUESTION_MARKER} {question.strip()}\n{ANSWER_MARKER}"


def format_answer(answer: str, eos_token: str) -> str:
    """The completion the model learns to produce: a leading space, the answer, then EOS."""
    return f" {answer.strip()}{eos_token}"


def format_example(question: str, answer: str, eos_token: str) -> tuple[str, str]:
    """A training example as (prompt, completion); prompt + completion is the full text."""
    return format_prompt(question), format_answer(answer, eos_token)


def extract_answer(generated: str) -> str:
    """The answer part of a continuation: everything before a stop marker, stripped."""
    cut = len(generated)
    for stop in STOP_STRINGS:
        idx = generated.find(stop)
        if idx != -1:
            cut = min(cut, idx)
    return generated[:cut].strip()


def prompt_template(eos_token: str) -> str:
    """The whole training example with placeholders, as the model sees it (for manifests and model cards)."""
    return format_prompt("{question}") + format_answer("{answer}", eos_token)


def chat_template() -> str:
    """The Jinja chat template (``tokenizer.chat_template``) that renders chat messages in this contract.

    A user message becomes ``format_prompt(content)`` and an assistant message ``format_answer(content,
    eos_token)``, so ``apply_chat_template([user], add_generation_prompt=True)`` is exactly the prompt the
    model was trained on, and chat-style callers (a ``pipeline`` given messages, TRL's conversational
    datasets) produce the training format. The prompt already ends where the answer starts, so the
    generation prompt adds nothing. System and tool messages are left out: the model never saw any. The
    assistant part is wrapped in ``{% generation %}`` so ``return_assistant_tokens_mask`` (TRL's
    ``assistant_only_loss``) can find it.
    """
    # Jinja string literals take Python's escapes, so repr() writes the markers (and the newline) exactly.
    user = f"{{{{ {QUESTION_MARKER + ' '!r} + (message['content'] | trim) + {chr(10) + ANSWER_MARKER!r} }}}}"
    assistant = "{% generation %}{{ ' ' + (message['content'] | trim) + eos_token }}{% endgeneration %}"
    return (
        "{%- for message in messages -%}"
        f"{{%- if message['role'] == 'user' -%}}{user}"
        f"{{%- elif message['role'] == 'assistant' -%}}{assistant}"
        "{%- endif -%}"
        "{%- endfor -%}"
    )

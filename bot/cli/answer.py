"""`qabot ask` and `qabot chat`: answer questions from the terminal with a trained checkpoint.

Both build a ``Generator`` from the checkpoint folder (default: the ``MODEL_DIR`` setting,
``models/current``) and an ``Answerer`` from the settings (zones, threshold, fallback text, answer length),
with what the store taught and voted since training (when the store exists), so the terminal gives exactly
the answers the Discord bot would; ``chat`` keeps following what other processes on the store change
(``bot.answering.knowledge_sync``). ``--json`` shows where each answer came from: its zone, the known
question it matched and how well. A chat is one conversation: a follow-up ("and in 2018?") is read with the
question before it (``bot.answering.followups``; piped, with the line before it).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

if TYPE_CHECKING:
    from bot.answering.answerer import Answer, Answerer
    from bot.answering.knowledge_sync import KnowledgeSync
    from bot.async_store import SessionFactory

ModelOpt = Annotated[
    Path | None, typer.Option("--model", "-m", help="Checkpoint folder (default: MODEL_DIR, models/current).")
]
PrecisionOpt = Annotated[
    str | None, typer.Option("--precision", help="auto | fp32 | int8 (CPU) | fp16 | bf16 (GPU).")
]


JsonOpt = Annotated[
    bool, typer.Option("--json", help="One JSON object per answer: zone, confidence, matched question…")
]


def _build_answerer(
    model: Path | None, precision: str | None, *, follow: bool = False
) -> tuple[Answerer, KnowledgeSync | None]:
    """Load the model and wrap it the way the bot does, with the sync of the store (when it exists) whose
    taught pairs and votes ``_serving`` applies (and, with ``follow``, keeps applying, as ``qabot run``
    does); a missing model exits with the train command."""
    from bot.answering.answerer import Answerer
    from bot.answering.knowledge_sync import KnowledgeSync, marked_feed
    from bot.cli.common import fail, load_settings
    from training.checkpoint import CheckpointError

    settings = load_settings(model_dir=model, precision=precision)
    store = _existing_store(settings.database_url)
    feed = marked_feed(store) if store is not None and follow else None  # before the model loads
    try:
        answerer = Answerer.load(settings)
    except CheckpointError as e:
        raise fail(str(e)) from None
    except ValueError as e:  # e.g. a precision the device cannot run
        raise fail(f"Cannot load the model: {e}") from None
    if store is None:
        return answerer, None
    sync = KnowledgeSync(
        answerer,
        store,
        interval_s=settings.sync_interval_s if follow else 0,
        feed=feed,
        model_dir=settings.model_dir,
        precision=settings.precision,
    )
    return answerer, sync


def _existing_store(database_url: str) -> SessionFactory | None:
    """The store, or None when there is none yet (``ask`` and ``chat`` never create one)."""
    from storage.db import normalize_url, open_store

    try:
        url = normalize_url(database_url)
        if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
            return None
        return open_store(database_url)
    except Exception as e:  # answering without what it taught beats not answering
        typer.echo(f"warning: could not open the store ({e}); taught pairs are not used", err=True)
        return None


@contextlib.asynccontextmanager
async def _serving(answerer: Answerer, sync: KnowledgeSync | None) -> AsyncIterator[Answerer]:
    """The answerer running, with what the store taught and voted applied (and followed, when the sync
    polls), as ``qabot run`` starts."""
    from storage.db import dispose

    async with answerer:
        if sync is None:
            yield answerer
            return
        try:
            async with sync:
                yield answerer
        finally:
            dispose(sync.session_factory)


def answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answer": answer.text,
        "confidence": round(answer.confidence, 4),
        "unanswered": answer.unanswered,
        "latency_s": round(answer.latency_s, 4),
        "tokens": answer.tokens,
        "model_version": answer.model_version,
        "truncated": answer.truncated,
        "zone": answer.zone,
        "matched_question": answer.matched_question,
        "score": answer.match_score,
        "suggestions": list(answer.suggestions),
        "answered_by": answer.answered_by,
        "followup_of": answer.followup_of,
        "warning": answer.warning,
    }


def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    precision: PrecisionOpt = None,
) -> None:
    """Answer one question and print the answer."""
    import asyncio

    from bot.answering.answerer import clean_question
    from bot.cli.common import fail

    try:
        clean_question(question)  # reject an empty question before paying for the model load
    except ValueError as e:
        raise fail(str(e)) from None
    answerer, sync = _build_answerer(model, precision)

    async def run() -> Answer:
        async with _serving(answerer, sync):
            return await answerer.answer(question)

    answer = asyncio.run(run())
    if answer.warning and not as_json:
        typer.echo(answer.warning, err=True)  # stdout keeps the answer alone
    typer.echo(json.dumps(answer_json(answer), ensure_ascii=False) if as_json else answer.text)


def chat(model: ModelOpt = None, precision: PrecisionOpt = None, as_json: JsonOpt = False) -> None:
    """Talk to the model: an interactive prompt, or one answer per stdin line when piped."""
    import asyncio

    answerer, sync = _build_answerer(model, precision, follow=True)
    # sys.stdin is None when the shell closed it (`qabot chat 0<&-`): that is end of input.
    stdin = sys.stdin or io.StringIO()
    # Undecodable bytes on stdin become U+FFFD instead of crashing the loop.
    if hasattr(stdin, "reconfigure"):
        stdin.reconfigure(errors="replace")
    interactive = stdin.isatty() and not as_json

    async def run() -> None:
        local = sync.local_wordings if sync is not None else []  # a pick teaches this chat only
        async with _serving(answerer, sync):
            await (_interactive(answerer, local) if interactive else _scripted(answerer, as_json, stdin))

    asyncio.run(run())


async def _interactive(answerer: Answerer, local: list[dict[str, str]] | None = None) -> None:
    """``local``: the wordings this chat learned, kept when the store's are reloaded."""

    from bot.answering.followups import ConversationMemory, read_as
    from bot.line_input import read_line
    from bot.terminal import pick_problem

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (arrow-key editing and history for input())
    typer.echo(
        f"qabot chat — model {answerer.model_version}. /help lists what it takes; an empty line, /quit or "
        "Ctrl-D to quit."
    )
    conversation = ConversationMemory()  # this chat's previous question, for follow-ups
    offered: tuple[str, ...] = ()
    asked = ""  # the question ``offered`` answered (a choice teaches its wording, for this chat)
    while True:
        try:
            line = await read_line(input, "you> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        if not line.strip() or _command_name(line) in QUIT:  # /quit ends it, as it ends the terminal bot
            return
        if _command_name(line) == "help":  # what a chat takes, as the reply
            typer.echo(CHAT_HELP)
            continue
        if hint := _command_hint(line):
            typer.echo(hint, err=True)
            continue
        if line.strip().isdecimal():  # "did you mean": the number of a known question, never a question
            if problem := pick_problem(int(line), len(offered)):
                typer.echo(problem, err=True)
                continue
            line = offered[int(line) - 1]
            if asked:  # a follow-up's choice teaches no wording (``cogs/ask.py``)
                await answerer.learn_wording(asked, line)
            if asked and local is not None:
                local.append({"wording": asked, "question": line})
        try:
            answer = await conversation.ask(answerer, CHAT, line)
        except ValueError as e:
            typer.echo(str(e), err=True)
            continue
        except Exception as e:  # a timeout or a failed batch: say so and keep chatting
            typer.echo(f"could not answer: {type(e).__name__}: {e}", err=True)
            continue
        offered, asked = answer.suggestions, "" if answer.followup_of else read_as(answer)
        marker = " (not sure)" if answer.unanswered else ""
        if answer.warning:
            typer.echo(f"bot> {answer.warning}")
        typer.echo(f"bot> {answer.text}{marker}")


async def _scripted(answerer: Answerer, as_json: bool = False, stdin: TextIO | None = None) -> None:
    """One question per line in, one answer per line out, in order (blank line for a blank question;
    with ``as_json`` one JSON object per line, ``{"question": …, "error": …}`` when it failed).

    Lines are read in a thread and answered concurrently, so piped questions share batches, while each
    answer is printed as soon as it and all before it are ready (a co-process can ask line by line). So a
    line's context for follow-ups is the question line before it, as typed (the known question it matched
    is found again, not waited for).
    """
    import asyncio

    from bot.answering.followups import Turn
    from bot.line_input import read_line

    async def one(line: str, before: Turn | None) -> str:
        if hint := _command_hint(line):  # in place of the answer: one output line per input line
            typer.echo(hint, err=True)
            return json.dumps({"question": line.strip(), "error": hint}) if as_json else ""
        try:
            answer = await answerer.answer(line, context=before)
        except ValueError as e:
            typer.echo(f"skipped: {e}", err=True)
            return json.dumps({"question": line.strip(), "error": str(e)}) if as_json else ""
        except Exception as e:  # keep the answers aligned with the questions: an empty line, a message
            typer.echo(f"could not answer {line.strip()[:80]!r}: {type(e).__name__}: {e}", err=True)
            return json.dumps({"question": line.strip(), "error": str(e)}) if as_json else ""
        if as_json:
            return json.dumps(answer_json(answer), ensure_ascii=False)
        return " ".join(f"{answer.warning or ''} {answer.text}".split())  # always exactly one output line

    pending: asyncio.Queue[asyncio.Task[str] | None] = asyncio.Queue(maxsize=answerer.max_batch_size)

    async def read() -> None:
        before = None
        while line := await read_line((stdin or sys.stdin).readline):
            await pending.put(asyncio.create_task(one(line, before)))
            before = Turn(text) if (text := _asked(line)) else before
        await pending.put(None)

    reader = asyncio.create_task(read())
    while (task := await pending.get()) is not None:
        typer.echo(await task)
    await reader


CHAT = "chat"  # the one conversation's key in a chat's ``ConversationMemory``


def _asked(line: str) -> str | None:
    """The question a piped line asks, as the next line's context: None for a blank line, a command or
    one refused as empty (as ``ConversationMemory.ask`` remembers nothing for those)."""
    from bot.answering.answer_path import clean_question

    if _command_hint(line):
        return None
    try:
        return clean_question(line)
    except ValueError:
        return None


QUIT = ("quit", "exit", "q")  # the terminal bot's names for leaving (``Terminal.handle``)
CHAT_HELP = """\
qabot chat answers questions the way the bot would; it keeps no store, so it takes no admin commands.
  QUESTION          its answer (a follow-up such as "and in 2018?" is read with the question before it)
  NUMBER            after "did you mean", ask the question with that number
  /help             this list
  /quit, an empty line or Ctrl-D   leave (piped: the end of the input)
The terminal bot's commands (/teach, /retrain, /stats, /review...) work in `qabot run --local`."""


def _command_name(line: str) -> str:
    """The command a line names, as the terminal bot reads it (``/Teach …`` -> ``teach``), or ""."""
    return line.strip()[1:].partition(" ")[0].lower() if line.strip().startswith("/") else ""


def _command_hint(line: str) -> str | None:
    """For a line that is one of the terminal bot's commands (``/teach …``): where it works. ``chat`` has
    no store, so it would otherwise be asked as a question and answered "not sure"."""
    from bot.terminal import Terminal

    name = _command_name(line)
    if name == "help":
        return CHAT_HELP
    if name in QUIT:  # piped: the end of input ends a chat
        return f"/{name} is a command of the terminal bot; `qabot chat` ends at the end of its input."
    if not name or not hasattr(Terminal, f"cmd_{name}"):
        return None
    return (
        f"/{name} is a command of the terminal bot, which keeps a store: run `qabot run --local` "
        "(`qabot chat` only answers questions). Nothing was done."
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `qabot` app."""
    app.command("ask")(ask)
    app.command("chat")(chat)

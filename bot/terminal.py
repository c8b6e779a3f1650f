"""Terminal mode: the bot without Discord — same ``Answerer``, store and admin commands, at a prompt.

Each line is a question, or one of the admin commands below. With stdin not a terminal it reads one line
at a time and prints one answer per line, so it can be scripted::

    printf 'Who won the 2014 World Cup?\\n/stats\\n' | qabot run --local

Exchanges are logged with source ``terminal``. ``/retrain`` runs in the background (questions keep being
answered); at the end of input the terminal waits for a running retrain to finish before it exits. The
session is one conversation: a follow-up ("and in 2018?") is read with the question before it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shlex
import sys
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot import admin_actions, async_store
from bot.answering.answer_path import suggestion_text
from bot.answering.answerer import AnswererBusy, EmptyQuestion
from bot.answering.followups import ConversationMemory, read_as
from bot.line_input import read_line
from bot.retrain import RetrainBusy, RetrainJob, RetrainOptions, RetrainProgress, RetrainResult
from bot.status import ThrottledStatus
from storage.formats import FORMATS
from storage.masking import mask_secrets

if TYPE_CHECKING:
    from bot.answering.answerer import Answerer

log = logging.getLogger(__name__)

SESSION = "terminal"  # the one conversation's key in ``Terminal.conversation``
MAX_GAP_DAYS = 36_500  # /gaps N: a century at most (a larger N overflows the date arithmetic)

HELP = f"""\
Type a question (when the bot asks "did you mean", type the number of your choice), or a command:
  /retrain [epochs=N] [from_scratch] [force]   retrain in the background on the store + BASE_DATASETS
  /retrain cancel                              stop a running retrain
  /export [FORMAT] [PATH]                      {" | ".join(FORMATS)} (default: json, to ./qabot-FORMAT.*)
  /teach QUESTION | ANSWER                     answer QUESTION with ANSWER from now on (and retrain on it)
  /synonym WORD = MEANING[, MEANING]           people type WORD for MEANING: search both, from now on
  /synonym WORD =                              take WORD's back (a learned one: switch it off)
  /synonym [WORD]                              the synonyms, or what WORD means to the search
  /unanswered                                  questions the bot could not answer, similar ones grouped
  /gaps [DAYS]                                 unanswered and 👎'd questions by meaning, most askers first
  /review [accept|reject ID] [edit ID | ANSWER] what waits for an admin, and deciding it
  /stats                                       counts, votes, questions per day, model metrics
  /model                                       the serving model's manifest summary
  /reload                                      serve what MODEL_DIR points at now
  /help, /quit"""


def pick_problem(number: int, offered: int) -> str | None:
    """Why ``number`` picks none of the ``offered`` "did you mean" choices, or None when it picks one."""
    if not offered:
        return f'nothing to pick: {number} answers no "did you mean" list; type a question'
    if not 1 <= number <= offered:
        return f"pick {'1' if offered == 1 else f'1..{offered}'}: the number of a question offered"
    return None


class Terminal:
    """A line-based front end over the shared services."""

    def __init__(
        self,
        *,
        answerer: Answerer,
        session_factory: async_store.SessionFactory,
        retrain_job: RetrainJob | None,
        stdin: TextIO | None = None,
        out: TextIO | None = None,
        guilds: Collection[int] = (),
    ) -> None:
        self.answerer = answerer
        # The home community (``HOME_GUILD_IDS``): /unanswered, /gaps and /stats' top questions show its
        # questions, as the Discord commands do, when the terminal serves the bot's store.
        self.guilds = guilds
        self.session_factory = session_factory
        self.retrain_job = retrain_job
        # sys.stdin is None when the shell closed it (`qabot run --local 0<&-`): that is end of input.
        self.stdin = stdin or sys.stdin or io.StringIO()
        self.out = out or sys.stdout
        self.interactive = self.stdin.isatty()
        self._retrain: asyncio.Task[RetrainResult] | None = None
        self._offered: tuple[str, ...] = ()  # the last "did you mean" choices, picked by number
        self._offered_for: tuple[str | None, int | None] = ("", None)  # ... for this question and exchange
        self.conversation = ConversationMemory()  # the session's previous question, for follow-ups

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def run(self) -> None:
        """Read lines until end of input or /quit."""
        if self.interactive:
            self.say(f"qabot — model {self.answerer.model_version}. /help for commands, /quit to leave.")
        while True:
            if self.interactive:
                print("> ", end="", file=self.out, flush=True)
            line = await read_line(self.stdin.readline)  # never block the loop (the Answerer runs on it)
            if not line:
                break
            if not await self.handle(line.strip()):
                break
        if self._retrain is not None and not self._retrain.done():
            self.say(
                "Waiting for the running retrain to finish (/retrain cancel from another shell: Ctrl-C)."
            )
            await self._retrain

    async def handle(self, line: str) -> bool:
        """Handle one line; False means quit."""
        if not line:
            return True
        if not line.startswith("/"):
            try:
                await self.ask(line)
            except Exception as e:  # nothing a user types may end the session (a store error, say)
                log.exception("question %r failed", mask_secrets(line)[:200])
                self.say(f"(could not answer: {e})")
            return True
        name, _, rest = line[1:].partition(" ")
        name = name.lower()
        if name in ("quit", "exit", "q"):
            return False
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            self.say(f"Unknown command /{name}. /help lists the commands.")
            return True
        try:
            await handler(rest.strip())
        except Exception as e:  # a failing command must not end the session
            log.exception("/%s failed", name)
            self.say(f"/{name} failed: {e}")
        return True

    async def ask(self, line: str) -> None:
        """A question, or the number of one the last "did you mean" offered (then that one is asked). A bare
        number is never asked as a question: with no choices pending, or out of their range, it says so
        (and the choices stay pending)."""
        if line.isdecimal():  # isdigit() is also true of "²", which int() refuses
            if problem := pick_problem(int(line), len(self._offered)):
                self.say(f"({problem})")
                return
            line = self._offered[int(line) - 1]
            await self.chose(line)
        await self.answer(line)

    async def answer(self, question: str) -> None:
        self._offered = []  # a number typed after this answer fails picks nothing stale
        try:
            answer = await self.conversation.ask(self.answerer, SESSION, question)
        except EmptyQuestion as e:
            self.say(f"({e})")
            return
        except TimeoutError:
            self.say("(that took too long; try again)")
            return
        except AnswererBusy:
            self.say("(busy with other questions; try again in a moment)")
            return
        except Exception as e:  # one failed generation must not end the session
            log.exception("answering %r failed", mask_secrets(question)[:200])
            self.say(f"(could not answer: {e})")
            return
        if self.interactive:
            if answer.warning:
                self.say(answer.warning)
            self.say(answer.text)
        else:  # scripted: one line per question (an admin's answer with line breaks too), a warning first
            text = answer.text
            if answer.zone == "suggest":
                text = suggestion_text(answer.suggestions, style="line")
            self.say(" ".join(f"{answer.warning or ''} {text}".split()))
        # A follow-up is logged as read with its context; its choice teaches no wording (``cogs/ask.py``).
        exchange_id = await async_store.log_exchange(self.session_factory, answer, source="terminal")
        wording = None if answer.followup_of else read_as(answer)
        self._offered, self._offered_for = answer.suggestions, (wording, exchange_id)

    async def chose(self, question: str) -> None:
        """The last "did you mean" was answered with ``question``: record it, learn the wording
        (not a follow-up's)."""
        wording, exchange_id = self._offered_for
        if wording is None:
            return
        if exchange_id is not None:
            await async_store.record_choice(self.session_factory, exchange_id, question)
        await self.answerer.learn_wording(wording, question)

    # -- commands ------------------------------------------------------------------------------------
    async def cmd_help(self, _: str) -> None:
        self.say(HELP)

    async def cmd_retrain(self, args: str) -> None:
        if self.retrain_job is None:
            self.say("Retraining is not available here.")
            return
        words = shlex.split(args)
        if "cancel" in words:
            stopped = await self.retrain_job.cancel()
            self.say("Retrain cancelled." if stopped else "No retrain is running.")
            return
        options = RetrainOptions(triggered_by="terminal")
        for word in words:
            key, _, value = word.partition("=")
            if key == "epochs" and value.isdecimal():
                options.epochs = int(value)
            elif key in ("from_scratch", "force"):
                setattr(options, key, value.lower() not in ("0", "false", "no"))
            else:
                self.say(
                    f"Unknown /retrain option {word!r}. Usage: /retrain [epochs=N] [from_scratch] [force]"
                )
                return
        status = ThrottledStatus(self._say_async)

        async def on_progress(progress: RetrainProgress) -> None:
            await status.update(f"[retrain] {progress.describe()}".replace("**", ""))

        try:
            task = self.retrain_job.start(options, on_progress)
        except RetrainBusy as busy:
            self.say(f"A retrain is already running: {str(busy).replace('**', '')}")
            return
        self.say("Retrain started in the background; questions are still answered by the current model.")

        async def report() -> RetrainResult:
            result = await task
            await status.final(f"[retrain] {result.status}: {result.message}")
            return result

        self._retrain = asyncio.create_task(report())

    async def _say_async(self, text: str) -> None:
        self.say(text)

    async def cmd_export(self, args: str) -> None:
        usage = f"Usage: /export [FORMAT] [PATH], FORMAT one of {', '.join(FORMATS)} (default: json)"
        try:
            words = shlex.split(args)
        except ValueError as e:  # an unclosed quote
            self.say(f"/export: {e}. {usage}")
            return
        fmt = words[0] if words else "json"
        if fmt not in FORMATS or len(words) > 2:  # the admin's typo, not a failure: no traceback
            problem = f"unknown format {fmt!r}" if fmt not in FORMATS else "too many words"
            self.say(f"/export: {problem}. {usage}")
            return
        # No PATH: qabot-<format><suffix> in the working folder (git-ignored at the repository root).
        target = Path(words[1]) if len(words) > 1 else Path.cwd()
        try:
            path, summary = await admin_actions.export_file(self.session_factory, fmt, target)
        except OSError as e:  # a folder that cannot be written: the store is fine, say which path
            self.say(f"/export: cannot write {e.filename or target}: {e.strerror or e}")
            return
        self.say(f"Exported {summary.rows} rows ({fmt}) to {path}")
        if warning := summary.kto_warning():
            self.say(f"warning: {warning}")

    async def cmd_teach(self, args: str) -> None:
        question, sep, answer = args.partition("|")
        question, answer = question.strip(), answer.strip()
        if not sep:
            self.say("Usage: /teach QUESTION | ANSWER")
            return
        if problem := admin_actions.pair_problem(question, answer):
            self.say(problem)
            return
        pair_id = await async_store.teach(self.session_factory, question, answer, admin_id=None)
        await self.answerer.teach(question, answer)
        self.say(f"Learned pair #{pair_id}: answered from now on, and part of the next /retrain.")

    async def cmd_synonym(self, args: str) -> None:
        word, sep, means = args.partition("=")
        if not sep:
            self.say(await admin_actions.synonyms_text(self.session_factory, self.answerer, word))
        elif means.strip():
            meanings = admin_actions.parse_meanings(means)
            self.say(
                await admin_actions.add_synonym(self.session_factory, self.answerer, word, meanings, None)
            )
        else:
            self.say(await admin_actions.remove_synonym(self.session_factory, self.answerer, word, None))

    async def cmd_unanswered(self, _: str) -> None:
        groups = await admin_actions.unanswered_groups(self.session_factory, guilds=self.guilds)
        self.say(
            admin_actions.unanswered_text(groups, teach_hint="/teach QUESTION | ANSWER").replace("`", "")
        )

    async def cmd_gaps(self, args: str) -> None:
        from datetime import UTC, datetime, timedelta

        from bot.desk import service
        from bot.desk.report import gaps_text

        if args and not (args.isdecimal() and int(args) > 0):  # "abc", "-5", "0": not a silent 30 days
            self.say(f"Usage: /gaps [DAYS], DAYS a whole number of days from 1 (default 30), not {args!r}.")
            return
        days = min(int(args), MAX_GAP_DAYS) if args else 30
        since = datetime.now(UTC) - timedelta(days=days)
        report = await service.serving_gaps(
            self.answerer, self.session_factory, since=since, guilds=self.guilds
        )
        self.say(gaps_text(report) + "\nAnswer one with /teach QUESTION | ANSWER.")

    async def cmd_review(self, args: str) -> None:
        from bot.desk import review
        from bot.desk.report import review_text
        from storage import review as review_store

        head, _, answer = args.partition("|")
        words = head.split()
        if not words:
            queued = await review.items(self.session_factory)
            text = review_text(queued, counts=await review.waiting(self.session_factory)).replace("`", "")
            hint = "\nDecide with /review accept ID, /review reject ID, /review edit ID | ANSWER."
            self.say(text + hint if queued else text)  # nothing to decide: no hint
            return
        if len(words) != 2:
            self.say("Usage: /review, /review accept ID, /review reject ID, /review edit ID | ANSWER")
            return
        action, item = words
        try:
            kind, number = review.parse_item(item)
        except review.ReviewError as e:
            self.say(f"{e}.")
            return
        if not await async_store.run_in_session(self.session_factory, review_store.exists, kind, number):
            self.say(f"{item} does not exist: there is no such review item (/review lists what waits).")
            return
        try:
            decision = await review.decide(
                self.session_factory, self.answerer, item, action, None, answer=answer.strip() or None
            )
        except review.ReviewError as e:  # a bad id or edit: the admin's typo, not a failure
            self.say(f"{e}.")
            return
        self.say(decision.text.replace("`", ""))

    async def cmd_stats(self, _: str) -> None:
        stats = await async_store.stats(self.session_factory, days=14, guilds=self.guilds)
        manifest = getattr(self.answerer.generator, "manifest", None)
        self.say(admin_actions.stats_text(stats, self.answerer.model_version, manifest).replace("`", ""))
        for day, n in stats.get("per_day") or []:
            if n:  # the terminal's "chart": one bar per day with questions
                self.say(f"  {day}  {'#' * min(n, 60)} {n}")

    async def cmd_model(self, _: str) -> None:
        manifest = getattr(self.answerer.generator, "manifest", None)
        self.say(admin_actions.model_summary(manifest, self.answerer.model_version).replace("`", ""))

    async def cmd_reload(self, _: str) -> None:
        if self.retrain_job is None:
            self.say("Reloading is not available here.")
            return
        self.say(f"Now serving {await self.retrain_job.reload()}.")

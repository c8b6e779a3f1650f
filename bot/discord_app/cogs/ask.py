"""Answering: mentions, DMs, messages in ``ALLOWED_CHANNEL_IDS``, forum posts and the bot's threads
(``threads.route``), and ``/ask``.

Each question goes through the shared ``Answerer``; what it gets depends on the answer's zone:

- *answer*: a reply (split at sentence/word boundaries past 2000 characters), with a ``-# closest known
  question: …`` line when ``SHOW_SOURCES`` is on and the match was worded differently;
- *suggest*: "Did you mean one of these?", a button per known question (``views.SuggestionView``); the
  choice is answered and logged as an exchange of its own, and its wording learned (``LEARN_FROM_CHOICES``);
- *fallback*: the fallback text for a mention, a DM or ``/ask``; **nothing** in an open channel without a
  mention. Logged as unanswered and, with ``ESCALATION_CHANNEL_ID``, posted once for the admins to teach;
  chat and abuse ("thanks!", "fuck off": ``Answer.not_asked``) are logged as such, and never posted.

Mentions and emoji are removed from the question first (``replies.question_text``); no send may ping
(``NO_PING``). Each exchange is logged with its reply's id, by which 👍/👎 and corrections find it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import async_store
from bot.answering.answer_path import SECRET_WARNING, clean_question
from bot.answering.answerer import AnswererBusy, EmptyQuestion
from bot.answering.chatter import is_chat, is_follow_up, looks_like_question
from bot.answering.followups import Turn
from bot.discord_app import senders, threads
from bot.discord_app.chunking import split_message
from bot.discord_app.client import NO_PING, QABot
from bot.discord_app.escalation import escalate
from bot.discord_app.permissions import in_community, outsider, respond
from bot.discord_app.rate_limits import MAX_REMARK_CHARS, RemarkBudget, UserCooldown
from bot.discord_app.replies import SUGGEST_TEXT, Asked, answer_text, question_text, quoted
from bot.discord_app.views import SuggestionView
from storage.masking import mask_secrets
from training.secret_shapes import holds_secret

log = logging.getLogger(__name__)

NO_QUESTION = "Ask me a question — mention me with it, or use `/ask`."
TIMEOUT_TEXT = "Sorry, that took too long. Please try again in a moment."
BUSY_TEXT = "I'm busy with a lot of questions right now — please ask again in a moment."
ASK_SECRET_WARNING = (
    "⚠️ Your question held what looks like a secret (a token, a key or a password). The bot masked it, but "
    "reset it if you have shared it anywhere."
)
SECRET_WARNING_EVERY_S = 60  # a member's pasted secrets are warned about at most this often
MAX_REPLY_MESSAGES = 3  # one answer is at most MAX_ANSWER_CHARS plus its quote and source lines
ERROR_TEXT = "Sorry, something went wrong while answering. The admins can see the details in the log."


@dataclass
class Offer:
    """A "did you mean" reply: who asked what, and (once logged) its exchange, for the asker's choice."""

    asked: Asked
    question: str  # as the asker typed it (cleaned)
    exchange_id: int | None = None
    followup: bool = False  # read with the question before it: its choice teaches no wording


def _as_read(question: str) -> str:
    """``question`` as the answer path reads it (no zero-width characters), "" when nothing is left."""
    try:
        return clean_question(question)
    except EmptyQuestion:
        return ""


def cooldown_notice(seconds: float) -> str:
    return f"Slow down a little — you can ask again in {max(1, round(seconds))} s."


class Ask(commands.Cog):
    """Answers questions."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot
        self.cooldown = UserCooldown(bot.settings.user_cooldown_s)
        self.remarks = RemarkBudget(bot.settings.user_cooldown_s)
        self.secret_warnings = UserCooldown(SECRET_WARNING_EVERY_S)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """``/ask`` failed after all (say, a reply Discord refused): an apology, not "thinking…" forever."""
        log.error("/ask failed", exc_info=error)
        try:
            await respond(interaction, ERROR_TEXT)
        except discord.HTTPException:
            log.warning("could not tell %s that /ask failed", interaction.user.id)

    # -- deciding whether a message is a question for us -------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return  # other bots (and ourselves) never get answers: two bots could loop forever
        try:
            route = threads.route(self.bot, message)
            if route is None:
                return
            if message.content.startswith(self.bot.command_prefix):
                ctx = await self.bot.get_context(message)
                if ctx.valid:
                    return  # `!correct …` and friends are handled as commands
            await self._answer_message(message, route)
        except Exception:
            # Whatever happened, one user's message must not take the listener down.
            log.exception("failed to answer message %s", message.id)

    async def _answer_message(self, message: discord.Message, route: threads.Route) -> None:
        # In an open channel the bot only speaks when it has something to say: no notices there.
        explicit, question = route.explicit, route.question
        # A reply to the bot pings it (Discord's default) without its mention in the text.
        pinged_by_reply = message.guild is not None and self.bot.user.id not in message.raw_mentions
        if not question:  # a reply of an emoji, a sticker or an image to the bot's answer asks nothing
            if explicit and not pinged_by_reply:
                await message.reply(NO_QUESTION, allowed_mentions=NO_PING)
            return
        if not explicit and route.kind in ("thread", "open") and self._addressed_to_another(message):
            return  # "@A how many were on your team?": a member's question to a member
        # Whatever else is said or not: everyone in the channel can read it (once a minute per member and
        # channel: no flood). A message deleted already still gets its answer. (``/ask`` tells its asker
        # alone: its question is shown through the reply's quote, which masks it.)
        # Read as the answer path cleans it before the store masks it: warned exactly when it is masked.
        shown = _as_read(question)  # and "wh\u200bat is…" is read as the answer path reads it
        member_here = hash((message.author.id, message.channel.id))
        if holds_secret(shown) and not self.secret_warnings.retry_after(member_here):
            try:
                reference = message.to_reference(fail_if_not_exists=False)
                await message.channel.send(SECRET_WARNING, reference=reference, allowed_mentions=NO_PING)
            except discord.HTTPException:
                log.warning("could not warn about a pasted secret in channel %s", message.channel.id)
        # People talk in threads: there only what looks like a question is one ("thanks!" gets nothing),
        # and a forum post is one unless it is only a greeting.
        if not explicit and (
            (route.kind == "thread" and not looks_like_question(shown))
            or (route.kind == "post" and is_chat(shown))
        ):
            return
        # "thanks!", "wait what?" replying to the bot's answer (a reply pings it) ask it nothing.
        if explicit and pinged_by_reply and not looks_like_question(shown):
            return
        # A question to the bot waits out the member's cooldown, and is told so.
        wait = self.cooldown.retry_after(message.author.id) if explicit else 0.0
        if wait > 0:
            await message.reply(cooldown_notice(wait), allowed_mentions=NO_PING)
            return
        # Nobody addressed the bot (an open channel, a thread, a forum post): no cooldown, whose window would
        # silently drop a post (its only chance) or a quick second question in a thread, but a budget per
        # member of what is no chat ("lol" is not counted: a question after a little chat is read), so a
        # flood cannot keep the model busy for everyone; in an open channel, nothing very long.
        if not explicit and (
            (route.kind == "open" and len(question) > MAX_REMARK_CHARS)
            or (route.kind != "post" and not is_chat(question) and not self.remarks.take(message.author.id))
        ):
            return  # (a forum post is one per thread Discord rate-limits: its only chance, never dropped)
        if explicit:
            async with message.channel.typing():
                answer, failure = await self._ask(question, context=route.context)
        else:
            answer, failure = await self._ask(question, context=route.context)
        if answer is None:
            if explicit:
                await message.reply(failure, allowed_mentions=NO_PING)
            return
        # Nobody asked the bot: "did you mean" is for questions, not remarks ("messi is the goat").
        if (
            not explicit
            and route.kind != "post"
            and answer.zone == "suggest"
            and not looks_like_question(question)
        ):
            return

        where: list[Any] = []  # the channel the reply went to (a new thread with REPLY_IN_THREAD)

        async def send_to(channel: Any, pieces: list[str], view: discord.ui.View | None) -> discord.Message:
            # A question deleted while it was answered still gets its answer (not replying to it), and
            # the exchange is logged: a plain reply would fail and lose both.
            reference = message.to_reference(fail_if_not_exists=False) if channel.id != message.id else None
            first = await channel.send(pieces[0], reference=reference, view=view, allowed_mentions=NO_PING)
            later = [await channel.send(piece, allowed_mentions=NO_PING) for piece in pieces[1:]]
            senders.note_parts(self.bot, first, later)
            return first

        async def send(pieces: list[str], view: discord.ui.View | None) -> discord.Message:
            channel, _ = await threads.reply_channel(self.bot, message, question)
            try:
                first = await send_to(channel, pieces, view)
            except discord.HTTPException:
                if channel is message.channel:
                    raise
                # The thread just started refused it (no Send Messages in Threads, deleted at once).
                log.warning("could not answer in new thread %s; replying in the channel", channel.id)
                channel = message.channel
                first = await send_to(channel, pieces, view)
            where.append(channel)
            return first

        asked = Asked(
            user_id=message.author.id,
            channel_id=message.channel.id,
            guild_id=message.guild.id if message.guild else None,
            message_id=message.id,
            explicit=explicit,
        )
        # A post is a question by nature; elsewhere a quiet "not sure" on a remark is no work for the admins
        # ("that match was mad" is not an unanswered question); chat and abuse never are (``_reply``).
        escalate_it = explicit or route.kind == "post" or looks_like_question(question)
        replied = await self._reply(answer, asked, send, late_reply_to=message.id, escalate_it=escalate_it)
        if replied and not explicit:
            self.cooldown.start(message.author.id)
        thread = where[0] if where and isinstance(where[0], discord.Thread) else message.channel
        if isinstance(thread, discord.Thread):
            asker_id = message.author.id
            self.bot.conversations.note(thread.id, answer=answer, asker_id=asker_id, bot_spoke=replied)

    def _addressed_to_another(self, message: discord.Message) -> bool:
        """Whether a message the bot was not addressed in replies to, or mentions, another member: in a
        thread or an open channel that is one member asking another, not the bot."""
        me, asker = self.bot.user.id, message.author.id
        others = {u.id for u in message.mentions if not u.bot} - {me, asker}  # not a score bot, a webhook
        if any(user_id in others for user_id in message.raw_mentions):
            return True
        replied = threads.replied_message(message)
        if replied is None or replied.webhook_id is not None:
            return False
        return replied.author.id not in (me, asker) and not replied.author.bot  # their own aside is theirs

    async def _ask(self, question: str, *, context: Turn | None = None):
        """(answer, None) or (None, text to show instead). ``context``: the thread's previous question, with
        which a follow-up ("and in 2018?") is read (``bot/answering/followups.py``)."""
        try:
            return await self.bot.answerer.answer(question, context=context), None
        except EmptyQuestion:  # any other error is a failure, not a hint on how to ask
            return None, NO_QUESTION
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError since 3.11
            return None, TIMEOUT_TEXT
        except AnswererBusy:
            return None, BUSY_TEXT
        except Exception:
            log.exception("answerer failed on %r", mask_secrets(question)[:200])  # masked, then cut
            return None, ERROR_TEXT

    def _answer_text(self, answer: Any) -> str:
        if answer.unanswered:
            return answer.text
        return answer_text(
            answer.text,
            asked=answer.question,
            matched_question=getattr(answer, "matched_question", None),
            show_sources=self.bot.settings.show_sources,
        )

    async def _reply(
        self,
        answer: Any,
        asked: Asked,
        send: senders.Send,
        *,
        prefix: str = "",
        late_reply_to: int | None,
        escalate_it: bool = True,
    ) -> bool:
        """Reply by zone, log the exchange, and escalate a "not sure" (unless not ``escalate_it``); whether
        a reply was sent.

        ``late_reply_to``: the message an admin's later answer replies to (None: the first reply sent).
        """
        first = None
        suggestions = getattr(answer, "suggestions", ())
        offer = Offer(asked, answer.question, followup=bool(getattr(answer, "followup_of", None)))
        if answer.zone == "suggest" and suggestions:
            view = SuggestionView(
                asker_id=asked.user_id,
                suggestions=suggestions,
                on_choose=functools.partial(self._choose, offer),
            )
            first = view.message = await send([prefix + SUGGEST_TEXT], view)
        elif asked.explicit or not answer.unanswered:
            text = prefix + self._answer_text(answer)
            pieces = split_message(text, max_pieces=MAX_REPLY_MESSAGES) or [self.bot.settings.fallback_answer]
            first = await send(pieces, None)
        exchange_id = await async_store.log_exchange(
            self.bot.session_factory,
            answer,
            source="discord",
            guild_id=asked.guild_id,
            channel_id=asked.channel_id,
            message_id=asked.message_id,
            user_id=asked.user_id,
            reply_message_id=first.id if first is not None else None,
        )
        offer.exchange_id = exchange_id
        asked_nothing = getattr(answer, "not_asked", None)  # "thanks!", "fuck off": nothing to teach
        if answer.unanswered and exchange_id is not None and escalate_it and not asked_nothing:
            if late_reply_to is None and first is not None:
                late_reply_to = first.id
            await escalate(
                self.bot, exchange_id, answer.question, asked, late_reply_to, replied=first is not None
            )
        # A stranger's DM (someone in none of the home guilds) is answered and logged, then marked, which
        # leaves it out of what the admins review (another guild's questions are told by their guild).
        # After the log: a vote on the reply finds its exchange while Discord is asked.
        if asked.guild_id is None and exchange_id is not None and await outsider(self.bot, asked.user_id):
            await async_store.mark_outsider(self.bot.session_factory, exchange_id)
        return first is not None

    async def _choose(self, offer: Offer, interaction: discord.Interaction, question: str) -> None:
        """The asker chose a suggested known question: record the choice and learn their wording, then
        answer it and log it as an exchange of its own."""
        asked = offer.asked
        # Only the home community's choices teach the bot wordings (another guild's would rank for it); a
        # follow-up's teach none: "and 2014" alone means nothing, and read with the question before it the
        # wording steals that question ("which team won russia 2018" answered with 2014 on the e5 model).
        # Nor a fragment shaped like one, asked alone ("and 2018?"): learned, it would answer every later
        # "and 2018?" in the answer zone, read with nobody's context.
        fragment = is_follow_up(offer.question)
        if not (offer.followup or fragment) and await in_community(self.bot, asked.guild_id, asked.user_id):
            if offer.exchange_id is not None:
                await async_store.record_choice(self.bot.session_factory, offer.exchange_id, question)
            await self.bot.answerer.learn_wording(offer.question, question)
        answer, failure = await self._ask(question)
        if answer is None:
            await interaction.followup.send(failure, ephemeral=True, allowed_mentions=NO_PING)
            return
        chosen = Asked(
            user_id=asked.user_id,
            channel_id=asked.channel_id,
            guild_id=asked.guild_id,
            message_id=asked.message_id,
            explicit=True,  # a choice is always answered
        )
        await self._reply(
            answer,
            chosen,
            senders.followup_sender(interaction),
            prefix=quoted(question) + "\n",
            late_reply_to=None,
        )
        if isinstance(interaction.channel, discord.Thread):  # in a thread, the choice is what was asked
            self.bot.conversations.note(
                interaction.channel.id, answer=answer, asker_id=asked.user_id, bot_spoke=True
            )

    # -- /ask --------------------------------------------------------------------------------------
    @app_commands.command(name="ask")
    @app_commands.describe(question="What you want to know")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        """Ask the bot a question."""
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait > 0:
            await interaction.response.send_message(
                cooldown_notice(wait), ephemeral=True, allowed_mentions=NO_PING
            )
            return
        # Generation can exceed Discord's 3 s deadline for a first response: defer ("thinking…") first.
        await interaction.response.defer(thinking=True)
        text = question_text(question)
        answer, failure = await self._ask(text)
        if answer is None:  # a timeout, a full queue, a failure: the pasted secret is still to be reset
            await interaction.followup.send(failure, allowed_mentions=NO_PING)
            if holds_secret(_as_read(text)):
                await interaction.followup.send(ASK_SECRET_WARNING, ephemeral=True, allowed_mentions=NO_PING)
            return
        asked = Asked(
            user_id=interaction.user.id,
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
            message_id=interaction.id,
            explicit=True,
        )
        # A later answer replies to the bot's own reply, which quotes the question (/ask leaves no message).
        send = senders.followup_sender(interaction)
        await self._reply(answer, asked, send, prefix=quoted(answer.question) + "\n", late_reply_to=None)
        if answer.warning:  # to the asker alone: the reply's quote masked it, but it may be out elsewhere
            await interaction.followup.send(ASK_SECRET_WARNING, ephemeral=True, allowed_mentions=NO_PING)


async def setup(bot: QABot) -> None:
    await bot.add_cog(Ask(bot))

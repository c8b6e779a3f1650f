"""Chatter or a question? What the bot decides about a message nobody addressed to it.

In an open channel every message goes through the answer path and its zones decide (today's rule: a
"not sure" stays silent). People also talk there, and in threads far more: "thanks!", "+1", "lol same",
"that match was mad". ``is_chat`` is a message of social words only (greetings, thanks, agreement,
laughter, emoji, "+1"); ``looks_like_question`` one with a "?", a clause opening like a question ("how
do…", "anyone know…", a short "and in 2018"), an interrogative later on ("wc 2002 who won", also pt/es/fr)
or a topic asked for ("offside rule"), that asks about something (not "really?", "ok but why", nor an
invitation: "anyone watching the game tonight?", ``is_invitation``). Chat and other statements are never
escalated; in a thread they get no answer at all (``cogs/ask.py``). ``not_asked``: why a message the bot
could not answer is no question for its admins, "chat" (``asks_nothing``) or "abuse" (an insult that asks
nothing, by training's offensive classifier, or an order to drop the bot's instructions). Functions of text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def word_set(words: str) -> frozenset[str]:
    """A word list written as one string ("hi hello hey"), as a set (``bot.desk.harvest``'s lists too)."""
    return frozenset(words.split())


# Words that carry no question on their own: a message made only of them is chat.
CHAT_WORDS = word_set(
    """hi hello hey heya hiya yo sup hola howdy gm gn morning evening night all everyone everybody guys folks
    y'all yall
    thanks thank thx ty tysm tyvm cheers appreciated appreciate it much so very a lot lots you u ya
    ok okay k kk cool nice great awesome perfect amazing brilliant sweet neat legend legendary goat
    lol lmao lmfao rofl haha hahaha hehe xd yes yeah yep yup no nope nah sure np welcome bye cya later
    gg wp glhf same agreed agree true right exactly indeed wow omg oh ah ahh hmm ugh damn sheesh bro mate
    dude man that this is was works worked working got makes sense helped fixed solved it's thats that's
    good job well done fair enough i see
    muito muita muchas muchos mucho beaucoup vielen schön schon dank mille bom boa buen buena buenas buenos
    dia días dias tarde tardes noite noches todos todas galera pessoal gente tout le monde
    obrigado obrigada brigado valeu vlw gracias merci danke grazie olá ola oi salut bonjour hallo ciao
    tchau adiós adios chao für die antwort hilfe"""
)
# How a question opens (after any greeting): interrogatives, auxiliaries, requests.
QUESTION_STARTS = word_set(
    """what whats what's who whos who's whom whose when whens where wheres where's why how hows how's
    which is isn't isnt are aren't arent am was were do does did don't dont doesn't doesnt didn't can
    can't cant could couldn't should shall will would wont won't may might must has have had any anyone
    anybody someone somebody explain tell define help pls plz please name list give wondering quick
    question need eli5 wat wats wut hw wht"""
)
# Reactions ("really?", "wait what?", "why tho?", "who cares"): a message of only these, interrogatives and
# social words asks about nothing, "?" or not.
REACTION_WORDS = word_set(
    """and really wait huh tho though seriously serious real for cares care so then now me i it that this
    there again even not too what's but ok one tbh ngl fr imo honestly"""
)
# A short message opening like these continues the conversation's last question ("and in 2018").
FOLLOW_UP_STARTS = frozenset({"and", "or", "also", "what about", "how about"})
FOLLOW_UP_MAX_WORDS = 6
# Asked later in the message ("step over skill whats that", "wc 2002 who won", "six pointer meaning").
ASKS_ANYWHERE = word_set(
    """what whats what's who whos who's when whens where wheres why how hows which wat wats quem qual quais
    quanto quantos quantas quando pq qué when's quién quien cuál cuántos cuántas cuánto cuándo cómo dónde quoi
    combien comment pourquoi quand qui où quel quelle quels quelles onde"""
)
# Italian and German interrogatives ask only opening a clause: anywhere, "chi" is tai chi's and "cosa"
# cosa nostra's. Not "come", "dove" or "was", which open English clauses too.
CLAUSE_ASKS = word_set(
    """chi cosa perché perche quanti quante quale quali wer wann wo warum wieso weshalb wie welche welcher
    welches welchen wieviel wieviele"""
)
TOPIC_ENDS = word_set("meaning explained rule rules difference definition")
# Invitations and polls ask who joins in, not something a Q&A bot knows: "anyone up for valorant", "who
# wants to play among us", "who's watching the boxing tonight". ``ANYONE`` invites; ``WHO`` also asks
# real questions ("who's playing tonight", "who is joining barca"), so it invites only by wanting, or by
# watching at a time ("who is watching the var screen" asks who). Fillers between: "who else is gonna…".
ANYONE = word_set("anyone anybody any1 someone somebody alguém alguem alguien quelqu'un")
WHO = word_set("who whos who's quem quién quien")
INVITE_FILLERS = word_set("else here is are gonna going to u you")
WANT_VERBS = word_set("wanna want wants tryna quer quiere quieres veut")  # ...unless to learn something:
LEARN_VERBS = word_set(
    """explain tell help know answer say guess settle remind confirm clarify teach explicar dizer saber
    ajudar decir ayudar expliquer dire savoir aider"""
)
# Inflected and clitic forms ("explaining", "explicarme", "m'expliquer") start with one of these.
LEARN_STEMS = (
    "explain",
    "explic",
    "expliqu",
    "clarif",
    "describ",
    "defin",
    "elaborat",
    "summar",
    "ajud",
    "ayud",
)
LEARN_PAIRS = {("break", "down"), ("walk", "me"), ("walk", "us"), ("walk", "through"), ("fill", "me")}
# Between the wanting and what is wanted: "wanna quickly explain", "quer me explicar", "keen to explain".
WANT_FILLERS = word_set("to me us just quickly quick briefly pls please plz kindly real really nos")
JOIN_FOR = {("up", "for"), ("down", "for"), ("down", "to"), ("in", "for"), ("keen", "for"), ("keen", "to")}
WATCH_VERBS = word_set("watching watch assistir assiste regarde")
JOIN_VERBS = word_set("playing joining join streaming fancy joga jogar juega jugar joue jouer")  # ANYONE's
INVITE_TIMES = word_set("tonight today tomorrow tmrw now rn later weekend sunday saturday hoje hoy soir")
_WORD = re.compile(r"\+\d+|[\w']+", re.UNICODE)


def _words(text: str) -> list[str]:
    return [w.lower().replace("\u2019", "'") for w in _WORD.findall(text.replace("\u2019", "'"))]


# Discord's words for everyone, and for the bot, chat only beside a greeting, thanks or goodbye ("gm chat",
# "ty fam", "thx bot"): alone, "chat" or "bot" may be what is asked about ("is chat working?").
ADDRESSEES = word_set("chat fam peeps ppl lads gang bot qabot bud buddy")


# Laughter however long it is typed: "lmaooo", "hahahaha", "looool", "lmfaoooo", "jajaja", "kkkkk", "rsrs".
_LAUGHTER = re.compile(
    r"l+o+l+[lo]*|l+m+f*a+o+|r+o+f+l+|(?:h+[aeiu]+){2,}h*|(?:a+h+){2,}a*|(?:j+[aei]+){2,}|k{3,}|x+d+|(?:rs){2,}"
    r"|bruh+"
)
_STRETCHED = re.compile(r"(\w)\1{2,}")  # "heyyy", "okkk", "nooo": a letter held down


def _held_down(words: list[str]) -> set[str]:
    """``words``, and each with a letter held down let go ("heyyy": "hey" and "heyy")."""
    return {*words, *(_STRETCHED.sub(r"\1", w) for w in words), *(_STRETCHED.sub(r"\1\1", w) for w in words)}


def _social(word: str, social: frozenset[str]) -> bool:
    return _LAUGHTER.fullmatch(word) is not None or not social.isdisjoint(_held_down([word]))


def is_chat(text: str) -> bool:
    """Only social words (laughter and letters held down too: "lmaooo", "heyyy"), emoji and punctuation:
    nothing a Q&A bot could answer ("thanks!! 🙏", "+1")."""
    words = _words(text)
    greets = not (GREETINGS | THANKS | BYES).isdisjoint(_held_down(words))
    social = CHAT_WORDS | ADDRESSEES if greets else CHAT_WORDS
    return all(_social(w, social) or w.startswith("+") or w.isdigit() and len(w) < 3 for w in words)


THANKS = word_set(
    "thanks thank thx ty tysm tyvm cheers appreciated appreciate obrigado obrigada brigado valeu vlw gracias "
    "merci danke grazie"
)
GREETINGS = word_set(
    "hi hello hey heya hiya yo sup hola howdy gm morning evening olá ola oi salut bonjour hallo"
)
BYES = word_set("bye cya gn night tchau adiós adios chao")
CHAT_REPLIES = (
    (THANKS, "You're welcome! 🙂"),
    (GREETINGS, "Hi! 👋 Ask me a question and I'll answer it if I know it."),
    (BYES, "Bye! 👋"),
)
# An acknowledgement ("ok", "ok cool", "makes sense"), with the words around one: a 👍, not "not sure".
ACKS = word_set(
    """ok okay k kk cool nice great awesome perfect amazing brilliant sweet neat gg wp agreed exactly fair
    enough makes sense got it works worked fixed solved helped good job done"""
)
_ACK_FILLER = word_set("that thats that's it its it's this is was so very i u you mate bro dude man well")
LAUGHED, ACKNOWLEDGED = "😄", "👍"


def chat_reply(text: str) -> str | None:
    """What to say instead of "not sure" to chat addressed to the bot ("thanks!" → "You're welcome!",
    "gm everyone" → a greeting, "lol" → 😄, "ok cool" → 👍), or None: anything else keeps the fallback,
    and so does chat that asks ("ok but why", "is it ok?": a 👍 would read as a yes)."""
    if not is_chat(text):
        return None
    typed = _words(text)
    words = _held_down(typed)  # "heyyy" greets too
    reply = next((reply for kind, reply in CHAT_REPLIES if words & kind), None)
    if reply is not None or not typed or asks(text):
        return reply
    said = [w for w in typed if not _LAUGHTER.fullmatch(w)]  # "ok lol": the laughter goes with the ok
    if not said:
        return LAUGHED
    if words & ACKS and all(not (ACKS | _ACK_FILLER).isdisjoint(_held_down([w])) for w in said):
        return ACKNOWLEDGED
    return None


def asks_nothing(text: str) -> bool:
    """Only social words, interrogatives and reactions ("thanks!", "wait what?", "ok but why"), or an
    invitation ("anyone up for fifa tonight?")."""
    words = _words(text)
    social = all(w in CHAT_WORDS or w in QUESTION_STARTS or w in REACTION_WORDS for w in words)
    return is_chat(text) or social or is_invitation(text)


def is_invitation(text: str) -> bool:
    """A message asking who joins in ("anyone watching the game tonight?", "who wants to play among us",
    "anyone here?") and nothing else: no interrogative after it ("anyone watching? who scored")."""
    clauses = [words for words in map(_words, re.split(r"[,;:\n?!.？؟]", text)) if words]
    while clauses and all(w in CHAT_WORDS for w in clauses[0]):
        clauses = clauses[1:]  # "yo, anyone…"
    first = _skip_greetings(clauses[0]) if clauses else []
    if not first or not _invites(first):
        return False
    return not any(w in ASKS_ANYWHERE for w in first[1:] + [w for c in clauses[1:] for w in c])


def _invites(words: list[str]) -> bool:
    asker, rest = words[0], words[1:]
    if asker not in ANYONE and asker not in WHO:
        return False
    while rest and rest[0] in INVITE_FILLERS:
        rest = rest[1:]
    if not rest:
        return asker in ANYONE and len(words) > 1  # "anyone here?", "anyone else?"
    verb, after = rest[0], rest[1:]
    if verb in WANT_VERBS:
        return not _to_learn(after)
    if (verb, after[0] if after else "") in JOIN_FOR:
        return not _to_learn(after[1:])  # "anyone down to explain offside" asks to be told
    if verb in WATCH_VERBS:
        return asker in ANYONE or any(w in INVITE_TIMES for w in after)
    return verb in JOIN_VERBS and asker in ANYONE


def _to_learn(wanted: list[str]) -> bool:
    """Whether what is wanted is to be told something: "(wanna) explain", "(up for) explaining", "(quer) me
    explicar", "(veut) m'expliquer", "(want to) walk me through"."""
    while wanted and wanted[0] in WANT_FILLERS:
        wanted = wanted[1:]
    if not wanted:
        return False
    verb = re.sub(r"^[mlt]'", "", wanted[0])
    return verb in LEARN_VERBS or verb.startswith(LEARN_STEMS) or tuple(wanted[:2]) in LEARN_PAIRS


def _skip_greetings(words: list[str]) -> list[str]:
    while words and words[0] in CHAT_WORDS and words[0] not in QUESTION_STARTS:
        words = words[1:]  # "hey guys, how do I…", "ok so what is…"
    return words


QUESTION_MARKS = "?？؟¿"  # Latin, full-width (Chinese, Japanese), Arabic; Spanish opens with ¿


def _question_mark(text: str) -> bool:
    return any(mark in text for mark in QUESTION_MARKS)


def looks_like_question(text: str) -> bool:
    """A "?", an opening of a question once greetings are skipped, an interrogative later on ("wc 2002 who
    won"), or a topic asked for ("offside rule"), in a message with a word that asks about something."""
    words = _words(text)
    if asks_nothing(text):
        return False
    if _question_mark(text):
        return True
    clauses = [_words(clause) for clause in re.split(r"[,;:\n]", text)]  # "pk hits the post, can he score"
    if any(_opens_question(clause) for clause in clauses if clause):
        return True
    asks = [i for i, w in enumerate(words) if w in ASKS_ANYWHERE]
    checked = " ".join(words[-3:]) in ("is that true", "is that right", "is it true")
    exclaims = [i for i in asks if words[i] == "what" and words[i + 1 : i + 2] in (["a"], ["an"])]
    return checked or len(asks) > len(exclaims) or words[-1] in TOPIC_ENDS


def _opens_question(words: list[str]) -> bool:
    words = _skip_greetings(words)
    if not words:
        return False
    if words[0] == "what" and len(words) > 1 and words[1] in ("a", "an"):
        return False  # "what a goal!": an exclamation (a question asks "what is a…")
    return words[0] in QUESTION_STARTS or words[0] in CLAUSE_ASKS or _follows_up(words)


def _follows_up(words: list[str]) -> bool:
    opening = " ".join(words[:2])
    return len(words) <= FOLLOW_UP_MAX_WORDS and (words[0] in FOLLOW_UP_STARTS or opening in FOLLOW_UP_STARTS)


def is_follow_up(text: str) -> bool:
    """A short question that only makes sense after the previous one ("and in 2018?", "what about uefa";
    not "also, who won in 2014?")."""
    words = _words(text)
    if not _follows_up(words):
        return False
    rest = words[2:] if " ".join(words[:2]) in FOLLOW_UP_STARTS else words[1:]
    return not (len(rest) >= 3 and rest[0] in QUESTION_STARTS)


# "ignore your instructions and …", "please disregard all previous rules": an order to the bot about its own
# instructions (the canonical prompt injection, Perez & Ribeiro 2022), at the start of a sentence. It asks
# nothing a member could teach; "ignore the offside rules, who won?" names no instructions of the bot's.
_ORDER = re.compile(
    r"(?:^|[.!?;]\s)\W*(?:(?:hey|hi|ok|okay|now|so|please|pls|bot)\W+)*"
    r"(?:ignore|disregard|forget|override|bypass)\W+(?P<which>(?:[\w']+\W+){1,4}?)"
    r"(?:instructions?|rules|prompts?|guidelines|directives?|programming|guardrails|restrictions)\b",
    re.IGNORECASE,
)
_THE_BOTS = word_set("your all any previous prior above earlier preceding system initial original")
# ...and nothing but these around them: "forget the previous handball rules" names the game's rules.
_THE_BOTS_TOO = _THE_BOTS | word_set("the of in everything these those my own safety security developer")


def orders_the_bot(text: str) -> bool:
    """An order to ignore the bot's instructions ("ignore all previous instructions and …")."""
    for match in _ORDER.finditer(text):
        which = set(_words(match["which"]))
        if which & _THE_BOTS and which <= _THE_BOTS_TOO:
            return True
    return False


# A clause opening with one of these (after a greeting) asks yes or no: "can the pk taker fake it".
YES_NO_STARTS = word_set(
    """is isn't isnt are aren't arent am was were do does did don't dont doesn't doesnt didn't can can't cant
    could couldn't should shall will would wont won't may might must has have had explain define eli5
    tell name list"""
)
# Skipped before a clause's first word: greetings, fillers, and the slang of "wtf is a rabona" (what is).
_OPENERS = GREETINGS | word_set("ok okay so guys all everyone pls plz please quick question wtf wth tf")


def asks(text: str) -> bool:
    """A "?", an interrogative anywhere ("how the hell do I…", "what is a bastard file"), a clause opening
    a yes/no question or a request ("can the pk taker…", "wtf is var", "tell me the damn offside rule";
    not "you are…"), or a topic asked for ("nutmeg meaning"): whatever its words, it asks. "What a…" exclaims
    ("what a rubbish bot")."""
    words = _words(text)
    exclaims = {i for i, w in enumerate(words) if w == "what" and words[i + 1 : i + 2] in (["a"], ["an"])}
    if _question_mark(text) or any(w in ASKS_ANYWHERE and i not in exclaims for i, w in enumerate(words)):
        return True
    for clause in re.split(r"[,;:.!\n]", text):
        words = _words(clause)
        while words and words[0] in _OPENERS:
            words = words[1:]
        if words and (words[0] in YES_NO_STARTS or words[0] in CLAUSE_ASKS or words[-1] in TOPIC_ENDS):
            return True
    return False


def not_asked(text: str) -> str | None:
    """Why ``text``, which the bot could not answer, is no question for its admins to teach: "chat"
    (``asks_nothing``: "thanks!", "lol", "?", "😂😂😂"), "abuse" (an insult that does not ask: "fuck off",
    "you are a stupid bot"; or ``orders_the_bot``), or None (a question)."""
    return not_asked_many([text])[0]


def not_asked_many(texts: Sequence[str]) -> list[str | None]:
    """``not_asked`` of each text, the offensive classifier run once over those that do not ``asks``."""
    out: list[str | None] = [
        "chat" if asks_nothing(t) else "abuse" if orders_the_bot(t) else None for t in texts
    ]
    todo = [i for i, (t, why) in enumerate(zip(texts, out, strict=True)) if why is None and not asks(t)]
    if todo:
        # Training's dataset filter, classifier only (~3 ms a message; loads in ~1.6 s once): its sentence
        # encoder tells "the cock pheasant" from an insult, which a message that asks nothing seldom needs.
        from training.data.offensive import offensive_scores

        scores = offensive_scores([texts[i] for i in todo], context=False)
        for i, score in zip(todo, scores, strict=True):
            if score is not None:
                out[i] = "abuse"
    return out

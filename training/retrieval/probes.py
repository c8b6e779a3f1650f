"""The probes calibration makes for itself: questions nobody typed, generated from the dataset or generic.

``probe_rewordings``: mechanical rewordings of a known question (casual, a word dropped, two words swapped, a
typo, a filler phrase); ``terse_rewordings``: the few content words people type in a chat channel
("offside position?"), the hardest a training run can make without people. ``OFF_TOPIC_PROBES``: generic
questions and chat that no dataset's own questions should answer, the same list for every dataset.
"""

from __future__ import annotations

import random
import re

from training.retrieval.lexical import content_words, word_terms

# Questions from other fields, hobbies and sports, and chit-chat: what people ask a community bot that
# its dataset does not cover. Generic on purpose (the same list for every dataset); a probe that happens to
# be on the dataset's topic only makes the zones a little more careful.
OFF_TOPIC_PROBES = (
    "What is the capital of Australia?",
    "How do I boil an egg?",
    "Who wrote Pride and Prejudice?",
    "What is the chemical symbol for gold?",
    "How many legs does a spider have?",
    "What year did the Berlin Wall fall?",
    "How do I change a flat tyre?",
    "What is the tallest building in the world?",
    "Who discovered penicillin?",
    "How far is the Moon from Earth?",
    "What is the largest ocean?",
    "How do I learn to play the guitar?",
    "Which language has the most native speakers?",
    "Who was the first person on the Moon?",
    "How many bones are in the human body?",
    "How do airplanes stay in the air?",
    "Where do penguins live?",
    "What is a prime number?",
    "Who composed the Four Seasons?",
    "What is the longest river in Africa?",
    "What is the best laptop to buy?",
    "How do I fix a leaking tap?",
    "Which animal is the fastest on land?",
    "What is inflation?",
    "Who won the Nobel Peace Prize in 2010?",
    "When was the printing press invented?",
    "What is the currency of Japan?",
    "How do I write a cover letter?",
    "How many players are on an ice hockey team?",
    "Who has won the most Formula One championships?",
    "How long is a round in boxing?",
    "What is a hole in one?",
    "How many points is a try worth in rugby?",
    "Who holds the record for the most Olympic gold medals?",
    "How high is a basketball hoop?",
    "What is a grand slam in tennis?",
    "How many overs are in a T20 cricket match?",
    "What is a strike in bowling?",
    "Who won the Stanley Cup in 2015?",
    "How does scoring work in darts?",
    "What is the distance of a half marathon?",
    "Which team won the 2010 Rugby World Cup?",
    # Other sports' rules and records, asked the way a dataset's own questions are: they share its
    # question frames ("how many", "what is a", "who won") and sports words, and only the sport differs.
    "What is a let in tennis?",
    "How many frames are played in a snooker final?",
    "What is a maiden over in cricket?",
    "How do you win a point in badminton?",
    "Who first ran a mile in under four minutes?",
    "What is a scrum in rugby?",
    "How long does a handball match last?",
    "What is a penalty corner in field hockey?",
    "Who won the Ryder Cup in 2012?",
    "What is a home run?",
    "How many rounds are in a championship boxing bout?",
    "What is the diameter of a golf ball?",
    "How many pins are there in ten-pin bowling?",
    "Which jockey has won the Grand National the most times?",
    "When were the first modern Olympic Games held?",
    "What is a free throw worth?",
    "How is a tie-break played in tennis?",
    "Who holds the world record in the long jump?",
    # Other fields.
    "How do I make a cup of tea?",
    "What is a black hole?",
    "How many days are in a leap year?",
    "What does DNA stand for?",
    "How do I plant tomatoes?",
    "Who was the first emperor of Rome?",
    "thanks a lot",
    "hi everyone, how are you doing",
    "anyone around tonight?",
    "what are you up to",
)
_FILLERS = ("can you tell me ", "quick question: ", "does anyone know ", "i was wondering ")


def probe_rewordings(question: str, rng: random.Random) -> list[str]:
    """Mechanical rewordings of a known question, the kinds people type: casual, shorter, reordered,
    with a typo, with a filler phrase."""
    words = question.rstrip(" ?!.").split()
    out = [question.lower().rstrip(" ?!."), rng.choice(_FILLERS) + question[0].lower() + question[1:]]
    content = [i for i, w in enumerate(words) if word_terms(w)]
    if len(content) >= 3:  # drop one content word
        drop = rng.choice(content)
        out.append(" ".join(w for i, w in enumerate(words) if i != drop) + "?")
    if len(words) >= 4:  # swap two neighbouring words
        i = rng.randrange(len(words) - 1)
        swapped = words[:i] + [words[i + 1], words[i]] + words[i + 2 :]
        out.append(" ".join(swapped) + "?")
    longest = max(words, key=len) if words else ""
    if len(longest) >= 5:  # one typo: two letters swapped in the longest word
        j = rng.randrange(1, len(longest) - 2)
        typo = longest[:j] + longest[j + 1] + longest[j] + longest[j + 2 :]
        out.append(re.sub(rf"\b{re.escape(longest)}\b", typo, question, count=1))
    return [q for q in out if q.strip() and q != question]


TERSE_WORDS = (2, 3)  # content words a terse probe keeps: what "afcon most titles" or "offside rule?" keep


def terse_rewordings(question: str, rng: random.Random) -> list[str]:
    """What a chat user types for ``question``: a few of its content words, lower case, in order, sometimes
    with a question mark; none for a question of fewer than three content words (it is terse already)."""
    words = content_words(question)
    if len(words) < 3:
        return []
    out = []
    for keep in TERSE_WORDS:
        if keep < len(words):
            kept = sorted(rng.sample(range(len(words)), keep))
            out.append(" ".join(words[i] for i in kept) + rng.choice(("", "?")))
    return out

"""Answers to patients' questions about how the practice uses AI.

`answer_ai_question(text)` works out which question the patient asked ("are you a robot?",
"who sees what I type?", "can I opt out of the scribe?") and answers that question only, in
words taken from bot/content/ai_use.yml, with a few follow-up suggestions to say more.

Routing is hand-written rules, not a trained model, so a practice can read and change what
the assistant says without retraining:

1. normalise the text (lowercase, text-speak, contractions) and fix typos of the words the
   rules look for (difflib, same first letter);
2. spot a named tool from the aliases in the content file ("the eye scan", "no-show thing");
3. score each kind of question by the cue phrases it contains and take the best;
4. when no cue is strong enough, take the kind whose example phrasing (`examples:` in the
   content file, editable by the practice) is most alike in wording, if it is alike enough;
5. failing that, the kind whose example is nearest in meaning (the handbook's sentence
   model, actions/handbook.py), if near enough.

Kinds of question (`AiAnswer.topic`): robot, decisions, privacy, training, bias, accuracy,
opt_out, retention, tools (the list of tools), tool (one tool, by name) and general (the
fallback). With a tool named, the question is answered from that tool's entry.

Follow-up suggestions are (title, payload) pairs. A topic payload looks like
`/ask_ai_use{"ai_topic": "opt_out", "ai_tool": "scribe"}`; when the patient taps it, Rasa
routes the message to this action by intent, and `answer_ai_question` reads the topic back
from the payload text itself, so nothing needs declaring in the domain.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from actions.common import CONTENT_DIR, clinic, load_content

CONTENT_NAME = "ai_use.yml"
PAYLOAD_INTENT = "ask_ai_use"
HANDOFF_PAYLOAD = "/human_handoff"

# Every tool entry must answer these (tests/test_ai_use.py checks the content file).
TOOL_FIELDS = ("purpose", "data_used", "reviewed_by", "validation", "bias_monitoring", "opt_out", "retention")

# Which field of a tool answers each kind of question once the patient has named the tool.
TOOL_FIELD_FOR_TOPIC = {
    "tool": "purpose",
    "privacy": "data_used",
    "decisions": "reviewed_by",
    "accuracy": "validation",
    "bias": "bias_monitoring",
    "opt_out": "opt_out",
    "retention": "retention",
    "training": "training",
}

TOPICS = ("robot", "decisions", "privacy", "training", "bias", "accuracy", "opt_out", "retention", "tools", "tool", "general")

# On equal scores the earlier topic wins: a question that mentions opting out is about
# opting out, whatever else it mentions; "which tools" is the weakest reading.
TIE_ORDER = ("opt_out", "training", "bias", "retention", "decisions", "accuracy", "privacy", "robot", "tools")

# A question needs this much cue weight before it counts as that kind of question; a lone
# weak word ("computer", "race") is not enough and falls back to the general answer.
MIN_SCORE = 2

# Character-trigram cosine an example must reach to route an otherwise unrecognised
# question (step 4); chosen on the dev list in tests/test_ai_use.py.
MIN_EXAMPLE_SIMILARITY = 0.5

MAX_FOLLOW_UPS = 3


@dataclass(frozen=True)
class AiAnswer:
    topic: str  # one of TOPICS
    text: str
    follow_up: List[Tuple[str, str]] = field(default_factory=list)  # (button title, payload)
    tool: Optional[str] = None  # key under `tools:` when the answer is about one tool


# --- Content ---------------------------------------------------------------------------

def content_path(path: Union[str, Path, None] = None) -> Path:
    """The content file: `path`, else $AI_USE_FILE, else bot/content/ai_use.yml."""
    chosen = path or os.environ.get("AI_USE_FILE")
    if chosen:
        return Path(chosen).resolve()
    return CONTENT_DIR / CONTENT_NAME


def load_ai_use(path: Union[str, Path, None] = None) -> dict:
    # load_content joins the name onto bot/content/; an absolute path replaces that folder
    # (pathlib semantics), so other files get the same re-read-on-change cache.
    return load_content(str(content_path(path)))


def _fill(text: str) -> str:
    """Collapse YAML line wrapping and fill the placeholders a practice may use."""
    values = {
        "phone": str(clinic().get("phone_display", "")),
        "retention_days": os.environ.get("ARCHIVE_RETENTION_DAYS", "90"),
    }
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return " ".join(str(text).split())


# --- Normalising the question ----------------------------------------------------------

# Text-speak and contractions with the apostrophe already dropped ("don't" -> "dont").
_SHORTHAND = {
    "u": "you", "r": "are", "ur": "your", "ya": "you", "youre": "you are", "im": "i am",
    "dont": "do not", "doesnt": "does not", "didnt": "did not", "cant": "can not",
    "cannot": "can not", "wont": "will not", "isnt": "is not", "arent": "are not",
    "whats": "what is", "hows": "how is", "whos": "who is", "wheres": "where is",
    "thats": "that is", "pls": "please", "plz": "please", "ppl": "people", "abt": "about",
    # ChatGPT is a kind of AI: "do you use chatgpt" asks which tools, "are you chatgpt" asks
    # whether this is a machine; both read right as "ai" (it used to mean "are you a robot").
    "chatgpt": "ai", "chat gpt": "ai", "gpt": "ai", "optout": "opt out", "noshow": "no show", "notetaker": "note taker",
    "ais": "ai", "a i": "ai", "artificial intelligence": "ai", "machine learning": "ai",
}

# Words the cue rules and aliases look for; a misspelt word is corrected to one of these.
_CUE_WORDS = """
robot robots bot bots human humans person machine computer automated automatic program
talking chatting speaking texting messaging real actual someone anyone
diagnosis diagnose diagnosing diagnosed deciding decide decides decision decisions
treat treating treated treatment treatments medicine medicines medication medications prescribe prescription
choosing algorithm doctor doctors nurse check checks checked checking review reviews
reviewed results result approve
private privacy confidential secure security access share sharing sell selling read
reading messages message conversation conversations chats information details records
train training trained teach teaching learn learning learns improve improving
biased bias racist racism sexist fair fairness unfair discriminate discrimination
prejudice equally equal different differently
accurate accuracy inaccurate mistake mistakes wrong error errors reliable reliability
trust trustworthy tested testing validated validation actually proven approved studies
refuse refusal decline withdraw consent exclude without choice mandatory optional
delete deleted deleting erase erased retain retention forever stored store storing
storage keep keeping saved saving archive
tools anywhere elsewhere everything
""".split()


# Ordinary words one letter away from a cue word, never "corrected" ("both" is not "bot",
# "chart" is not "chat"). Found by running a few hundred common words through _correct.
_REAL_WORDS = frozenset("tech both ready chart mode noted calls takes detail".split())


@dataclass(frozen=True)
class _Vocabulary:
    words: frozenset
    by_first_letter: Dict[str, List[str]]


def _vocabulary(aliases: Iterable[str]) -> _Vocabulary:
    words = set(_CUE_WORDS)
    for alias in aliases:
        words.update(w for w in _tokens(alias) if len(w) >= 4)
    by_letter: Dict[str, List[str]] = {}
    for word in sorted(words):
        by_letter.setdefault(word[0], []).append(word)
    return _Vocabulary(frozenset(words), by_letter)


def _tokens(text: str) -> List[str]:
    text = (text or "").lower().replace("’", "'").replace("'", "")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = f" {text} "
    for short, full in _SHORTHAND.items():
        text = text.replace(f" {short} ", f" {full} ")
    return text.split()


def _correct(tokens: Sequence[str], vocab: _Vocabulary) -> List[str]:
    """Fix typos of cue words ("acurate", "robt"). Only words of 4+ letters, matched within
    the same first letter and closely (0.85): typos rarely hit the first letter, and a looser
    match turns real words into cue words ("seen" -> "screen", "treating" -> "texting")."""
    fixed = []
    for token in tokens:
        if len(token) < 4 or token in vocab.words or token in _REAL_WORDS:
            fixed.append(token)
            continue
        close = difflib.get_close_matches(token, vocab.by_first_letter.get(token[0], []), n=1, cutoff=0.85)
        fixed.append(close[0] if close else token)
    return fixed


# --- Spotting a named tool -------------------------------------------------------------

def _find_tool(tokens: List[str], tools: Dict[str, dict]) -> Tuple[Optional[str], List[str]]:
    """The tool named earliest in the question, and the tokens with its alias blanked out
    (so "eye test" does not also count as a question about testing)."""
    best: Optional[Tuple[int, int, str, List[int]]] = None  # (start, -length, tool, positions)
    for key, tool in tools.items():
        for alias in tool.get("aliases", []) or []:
            positions = _alias_positions(_tokens(alias), tokens)
            if positions is None:
                continue
            candidate = (positions[0], -len(positions), key, positions)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
    if best is None:
        return None, tokens
    blanked = [("_" if i in best[3] else t) for i, t in enumerate(tokens)]
    return best[2], blanked


def _alias_positions(alias: List[str], tokens: List[str]) -> Optional[List[int]]:
    """Where the alias's words occur in order, with at most two extra words between them
    ("recordings from my visit" matches "recording my visit"). A word matches as a prefix
    when it has 4+ letters ("retina" matches "retinal")."""
    if not alias:
        return None
    for start, token in enumerate(tokens):
        if not _word_matches(alias[0], token):
            continue
        positions, cursor = [start], start
        for word in alias[1:]:
            window = range(cursor + 1, min(cursor + 4, len(tokens)))
            nxt = next((i for i in window if _word_matches(word, tokens[i])), None)
            if nxt is None:
                break
            positions.append(nxt)
            cursor = nxt
        else:
            return positions
    return None


def _word_matches(alias_word: str, token: str) -> bool:
    return token == alias_word or (len(alias_word) >= 4 and token.startswith(alias_word))


# --- Kinds of question -----------------------------------------------------------------

# (topic, weight, pattern) over the normalised text. Weights add up across rules, so a
# question with several cues for one topic beats a passing mention of another. 3 = on its
# own enough to decide; 2 = a real cue; 1 = only tips a balance.
_AI = r"(ai|it|this|the tool|the tools|the model|the system|the computer|the machine|the bot|the program)"
_PEOPLE = r"(black|white|brown|hispanic|latino|latina|latinx|asian|native|indigenous|women|woman|men|man|girls|boys|kids|children|older|old|elderly|seniors|young|poor|disabled|deaf|immigrants|minorities|people|patients|everyone|everybody|me|us)"
_CUES: List[Tuple[str, int, str]] = [
    # Am I talking to a machine?
    ("robot", 3, r"\b(are you|you are|is this|is there|is anyone|is someone|who am i)\b( \w+){0,3} (a |an )?(robot|bot|chatbot|machine|computer|human|person|real|actual|automated|automatic|automatically|ai|someone|program|live|alive)\b"),
    ("robot", 3, r"\bam i (talking|chatting|speaking|texting|messaging|writing|typing) (to|with)\b"),
    ("robot", 3, r"\b(not|actual|real|live) (a |an )?(human|person|people|nurse|receptionist)\b|\b(operated|run|staffed|answered|manned|done) by (a |an |real |actual )*(person|people|human|humans|staff|computer|machine|bot)\b"),
    ("robot", 3, r"\bwho (am i|is this|are you)\b|\bwhat are you\b"),
    ("robot", 3, r"\b(just|only) (a |an )?(computer|computers|machine|machines|bot|bots|robot|robots|program|programs)\b"),
    ("robot", 2, r"\b(robot|bot|chatbot|machine|automated|automatic)\b"),
    ("robot", 1, r"\b(human|person|computer)\b"),
    # Does AI decide my care?
    ("decisions", 3, r"\b(diagnos\w*|decid\w*|decision\w*|determin\w*|figur\w* out|work\w* out)\b|\bfinal (call|say|word)\b"),
    ("decisions", 3, r"\b(change|changes|changing|stop|stops|start|starts|adjust\w*|cancel\w*|increase\w*|lower\w*|order\w*)\b( \w+){0,2} (medication|medications|medicine|medicines|meds|dose|doses|prescriptions?|treatments?|tests?|scans?|referrals?)\b"),
    ("decisions", 3, r"\b(going off|based on|rel(y|ies|ying) on|listen\w* to|follow\w*) (what )?(the )?(computer|ai|machine|algorithm|bot|program)\b"),
    ("decisions", 3, r"\b(who|does|do|will|is|are)\b( \w+){0,4} (check|checks|checking|review|reviews|reviewing|look at|looks at|approve|approves|sign|signs|read|reads|go over|goes over)\b( \w+){0,4} (result|results|note|notes|writes|wrote|output|photos?|pictures?|scans?|findings|report|reports|work)\b"),
    ("decisions", 2, r"\bwrong with (me|my|him|her|them|us)\b"),
    ("decisions", 2, r"\b(doctor|doctors|nurse|nurses|human|person|someone|people|staff) (check|checks|review|reviews|look|looks|sign|signs|approve|approves|in charge|in control)\b"),
    ("decisions", 2, r"\b(treatment|treat\w* me|medicine|medication|prescri\w*|my care|choos\w*|pick\w* my|in control|in charge)\b"),
    ("decisions", 1, r"\balgorithm\w*\b"),
    # Who sees what I type? What data does it use?
    ("privacy", 3, r"\bwho\b( \w+){0,3} (see|sees|seeing|read|reads|reading|look|looks|access|view|views|gets|hears|listens)\b"),
    ("privacy", 3, r"\b(see|sees|seeing|read|reads|reading|access|view|share|shares|shared|sharing|sell|sells|selling|sold|send|sends|sent|forward|forwarded|give|pass)\b( \w+){0,4} (messages?|chats?|conversations?|texts?|what i (type|write|say|said|wrote|typed|tell)|my (info|information|data|details|records?|health|name))\b"),
    ("privacy", 3, r"\b(private|privacy|confidential\w*|secure|security|hipaa|spy\w*|snoop\w*)\b"),
    ("privacy", 3, r"\bwhere (do|does|is|are) (my |the )?(messages?|chats?|data|info|information|words)\b( \w+){0,2} (go|goes|end up|sent)\b"),
    ("privacy", 3, r"\b(use|uses|using|look at|looks at|know|knows)\b (my |your |our |about my )?(data|info|information|race|ethnicity|insurance|income|age|address|zip|records?|health|details)\b"),
    ("privacy", 3, r"\b(sent|send|sends|sending|go|goes|going|shared|given|passed|sold) to (another|other|an outside|outside|a third|third|a different|different|any other|the|an?) ?(company|companies|party|parties|business\w*|firm|vendor\w*|employer|insurer|insurance)\b"),
    ("privacy", 3, r"\b(shared|share|shares|sharing|sold|sell|given|passed)( \w+){0,3} with\b( \w+){0,3} (companies|company|firms|third parties|anyone|others|businesses|vendors|employers?|insurers?|insurance)\b|\bknow\w* about me\b|\bfrom my (chart|record|records|file)\b"),
    ("privacy", 3, r"\bbetween (me|us) and\b|\bjust between us\b|\bstays? (private|with (you|the clinic|my doctor))\b"),
    ("privacy", 2, r"\b(what|which) (data|info|information|details)\b"),
    # Is my data used to train AI?
    ("training", 3, r"\b(train\w*|teach\w*)\b|\blearn\w* (from|on|off|with)\b|\bimprov\w* (your|the|its|this) (ai|bot|model|system|assistant|tool|program)\b"),
    ("training", 3, r"\b(fed|feed|feeding|put|putting|uploaded|uploading|going|goes|go) (in|into|to) (an |the |a |some |any )?(ai|model|models|bot|algorithm)\b"),
    ("training", 2, r"\b(use|used|using)\b( \w+){0,4} (to|for) (train|teach|improve|build|develop|make)\w*"),
    ("training", 1, r"\b(feed|fed|learns?)\b"),
    # Is it fair?
    ("bias", 3, r"\b(bias\w*|racis\w*|sexis\w*|ageis\w*|unfair\w*|fair\w*|discriminat\w*|prejudic\w*|equal\w*|equity|inequit\w*)\b"),
    ("bias", 3, r"\b(people|someone|patients|folks) (like me|like us|who look like me|who look like us)\b|\bas well for\b|\bsame for (everyone|everybody|all)\b"),
    ("bias", 3, r"\b(punish\w*|penali\w*|disadvantag\w*|profil\w*|stereotyp\w*|favou?r\w*|priorit\w*)\b|\bpeople of colou?r\b|\b(some|certain) (patients|people|groups) (over|more|less|worse|better)\b|\bproblem with (people|patients|women|men|black|older)\b"),
    ("bias", 3, rf"\bwork\w* (as well |the same |worse |better |less well |differently )?(for|on|with) {_PEOPLE}\b( \w+)?"),
    ("bias", 3, r"\btreat\w* (me |us |people |them |everyone |patients )?(different\w*|worse|unfair\w*|equal\w*|the same|fairly|badly)\b"),
    ("bias", 2, r"\b(deaf|hard of hearing|speech|stutter\w*|blind|wheelchair|dialect\w*|spanish|afford|transport\w*)\b|\bwork\w* (ok |okay |well |right |properly )?for me\b"),
    ("bias", 2, r"\bbecause (i am|of my|we are)\b"),
    ("bias", 1, r"\b(race|racial|ethnic\w*|black|white|hispanic|latino|latina|asian|native|gender|sex|women|older|elderly|age|poor|income|disab\w*|accent\w*|english|skin|colou?r|minorit\w*)\b"),
    # Does it work?
    ("accuracy", 3, r"\b(accura\w*|inaccura\w*|wrong(?! with)|mistake\w*|error\w*|reliab\w*|trust\w*|tested|testing|validat\w*|proven|precise|fda|approved|certified|evidence|stud(y|ies)|false (positive|negative)s?)\b"),
    ("accuracy", 3, rf"\b(does|do|did|will|can) {_AI} (actually |really |even )?work\b|\b(actually|really) works?\b|\bhow (good|well)\b|\bhow often\b( \w+){{0,3}} (wrong|right|miss\w*|fail\w*)"),
    ("accuracy", 3, r"\b(success|failure|hit) rate\b|\bproof\b|\bprove\w*\b|\btrack record\b|\b(working|work|works) (properly|correctly|right)\b|\bget\w* (it|things|this) (right|wrong)\b|\btest (it|them|the ai|the tool)\b"),
    ("accuracy", 3, r"\bout of (100|a hundred|10|ten|1000)\b|\bpercent\w*\b|\bhow (many|much|often)\b( \w+){0,6} (right|correct|wrong)\b|\b(independent\w*|audit\w*)\b|\b(checked|evaluated|assessed|reviewed|verified) by\b"),
    ("accuracy", 2, r"\b(miss|misses|missed|overlook\w*|fail|fails|failed|good enough|any good|safe to rely)\b"),
    # Can I say no?
    ("opt_out", 4, r"\bopt\w*( \w+){0,3} out\b"),
    ("opt_out", 3, r"\b(get|getting|be|stay|keep me) (out of|away from|clear of)\b|\b(oblig\w*|forced|force me|have to accept|must i accept|no way out)\b"),
    ("opt_out", 3, r"\b(say|said|saying) no\b|\b(refus\w*|declin\w*|withdraw\w*|consent\w*|exclud\w*|skip)\b|\b(turn|switch|shut) (it |this |that )?off\b|\b(leave|leaving|left|keep) (me|us|my \w+) out\b"),
    ("opt_out", 3, rf"\bwithout (the |any |an )?{_AI}\b|\bno ai\b|\bnot (have|use|get|using|be|being) (the |any |an )?(ai|it|scribe|robot|computer|used|involved|included)\b"),
    ("opt_out", 3, r"\b(do|must|will|would) (i|we) (have|need) to\b|\bis it (required|mandatory|optional|compulsory)\b|\b(choice|choices|say in it)\b|\bchoose not\b|\b(do not|dont|would not|wouldnt) (want|like)\b( \w+){0,2} (ai|it|robot|computer|scribe|recording|recorded|screening|tool|model|this)\b"),
    ("opt_out", 3, r"\b(optional|mandatory|compulsory|required to|forced to|have no choice)\b|\b(prefer|want|rather have|only want) (a |only |just )?(human|humans|person|people|doctor|real doctor|nurse)\b"),
    ("opt_out", 1, r"\b(instead|allowed)\b"),
    # What is kept, and for how long?
    ("retention", 3, r"\bhow long\b|\bforever\b|\b(delet\w*|eras\w*|retain\w*|retention|purg\w*)\b|\bget rid\b"),
    ("retention", 2, r"\bwhat (do|does|will) (you|the clinic|they|it) do with\b|\bwhat happens to (my|the|your)\b"),
    ("retention", 2, r"\b(gone|disappear\w*|vanish\w*|wiped|cleared|remain\w*|stick around|hang on to|hold on to)\b"),
    ("retention", 2, r"\b(keep|keeps|kept|keeping|store|stores|stored|storing|storage|save|saves|saved|saving|hold|holds|held|archiv\w*)\b"),
    # Which AI tools are there?
    ("tools", 3, r"\b(what|which|any|other|list|name)( (kind|kinds|type|types|sort|sorts|other|all|your|the|of))*( ai)? (ai|tools|systems|programs|technology)\b"),
    ("tools", 3, r"\b(how|where|when|what for) (do|does|is|are) (you|the clinic|the practice|this clinic|your clinic|this practice|this office|the office|ai)\b( \w+){0,2} (use|uses|using|used)\b"),
    ("tools", 3, r"\b(how|where) ai is used\b|\b(use|uses|using|used|have|has) ai (anywhere|elsewhere|for)\b|\bai (do|does) (you|the clinic|the practice|this clinic|the office) (use|have)\b"),
    ("tools", 3, r"\b(do|does) (you|the clinic|the practice|this clinic|this practice|the office|your office) (use|have|rely on)\b( \w+){0,2} ai\b"),
    ("tools", 3, r"\b(rundown|overview|summary|list)\b( \w+){0,3} ai\b|\b(parts?|areas?|ways) of (my|your|the) (care|treatment|clinic|practice)\b( \w+){0,2} (involve|involves|use|uses|using)\b"),
    ("tools", 2, r"\b(anywhere|elsewhere|all the (things|ways|places|tools)|in what ways|what ways)\b|\bai tools\b"),
    ("tools", 1, r"\b(tools|everything)\b"),
]
_COMPILED = [(topic, weight, re.compile(pattern)) for topic, weight, pattern in _CUES]


def topic_scores(text: str) -> Dict[str, int]:
    """Summed cue weight per topic for an already normalised text (for the eval's report)."""
    scores: Dict[str, int] = {}
    for topic, weight, pattern in _COMPILED:
        if pattern.search(text):
            scores[topic] = scores.get(topic, 0) + weight
    return scores


def classify(text: str, data: Optional[dict] = None) -> Tuple[str, Optional[str]]:
    """(topic, tool key or None) for a patient's question."""
    data = data if data is not None else load_ai_use()
    tools = data.get("tools", {}) or {}
    vocab = _vocabulary(a for tool in tools.values() for a in (tool.get("aliases") or []))
    tokens = _correct(_tokens(text), vocab)
    tool, rest = _find_tool(tokens, tools)
    scores = topic_scores(" ".join(rest))
    # The assistant's own names ("chatbot") are what "are you a robot?" questions are made of.
    robot = topic_scores(" ".join(tokens)).get("robot")
    if robot:
        scores["robot"] = robot
    topic = None
    if scores:
        best = max(scores.values())
        if best >= MIN_SCORE:
            topic = next(t for t in TIE_ORDER if scores.get(t) == best)
    if topic is None:
        # Wording first (precise when it fires), then meaning (catches new phrasings).
        topic = _nearest_example(" ".join(rest), data, vocab) or _nearest_by_meaning(text, data)
    if tool is None:
        return topic or "general", None
    # "Are you a chatbot?" is still "are you a robot?"; naming any other tool makes the
    # question about that tool ("is there an AI taking notes?" -> the scribe).
    if topic == "robot" and tool == "assistant":
        return "robot", None
    if topic in TOOL_FIELD_FOR_TOPIC:
        return topic, tool
    return "tool", tool


# Words that say nothing about which question it is; dropped before comparing to examples.
_FILLER = frozenset(
    "a an the is are am be was were do does did i me my you your it its this that to of in on "
    "for and or ai here there please can could would will just so what who how where when why "
    "which".split()
)


def _content_words(text: str) -> List[str]:
    return [w for w in text.split() if w not in _FILLER and w != "_"]


def _trigrams(text: str) -> Counter:
    words = _content_words(text)
    padded = f" {' '.join(words)} "
    return Counter(padded[i:i + 3] for i in range(len(padded) - 2))


def _cosine(a: Counter, b: Counter) -> float:
    dot = sum(count * b[gram] for gram, count in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def _nearest_example(text: str, data: dict, vocab: _Vocabulary) -> Optional[str]:
    """The kind of question whose example is most like `text`, if alike enough."""
    # One content word ("what is this", "hello") is too little to compare on.
    if len(_content_words(text)) < 2:
        return None
    asked = _trigrams(text)
    best_topic, best = None, MIN_EXAMPLE_SIMILARITY
    for topic, question in (data.get("questions") or {}).items():
        for example in question.get("examples") or []:
            similarity = _cosine(asked, _trigrams(" ".join(_correct(_tokens(example), vocab))))
            if similarity >= best:
                best_topic, best = topic, similarity
    return best_topic


# How alike in meaning (cosine of sentence vectors) a question must be to an example.
# Chosen on the labelled sets already seen by the rules (questions, after_rules,
# after_round_2); after_round_3 was scored once with it, afterwards.
MIN_MEANING_SIMILARITY = 0.6


@functools.lru_cache(maxsize=4)
def _example_vectors(encoder, examples: Tuple[str, ...]):
    import numpy as np

    return np.vstack([encoder.embed_query(example) for example in examples])


def _nearest_by_meaning(text: str, data: dict) -> Optional[str]:
    """The kind of question whose example means most nearly the same, using the handbook's
    sentence model (None without it, or when nothing is alike enough)."""
    from actions.handbook import load_encoder

    encoder = load_encoder()
    if encoder is None or len(_content_words(" ".join(_tokens(text)))) < 2:
        return None
    pairs = [(topic, example) for topic, question in (data.get("questions") or {}).items()
             for example in question.get("examples") or []]
    if not pairs:
        return None
    similarities = _example_vectors(encoder, tuple(e for _, e in pairs)) @ encoder.embed_query(text)
    best = int(similarities.argmax())
    return pairs[best][0] if similarities[best] >= MIN_MEANING_SIMILARITY else None


# --- Answers ---------------------------------------------------------------------------

def topic_payload(topic: str, tool: Optional[str] = None) -> str:
    """The payload of a follow-up button: this intent, with the topic as JSON."""
    entities = {"ai_topic": topic}
    if tool:
        entities["ai_tool"] = tool
    return "/" + PAYLOAD_INTENT + json.dumps(entities, separators=(",", ":"))


_PAYLOAD = re.compile(r"^\s*/" + PAYLOAD_INTENT + r"(\{.*\})\s*$", re.DOTALL)


def parse_topic_payload(text: str) -> Optional[Tuple[str, Optional[str]]]:
    """(topic, tool) from a follow-up button's payload, or None for ordinary text."""
    match = _PAYLOAD.match(text or "")
    if not match:
        return None
    try:
        entities = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    topic = entities.get("ai_topic") if isinstance(entities, dict) else None
    if topic not in TOPICS:
        return None
    return topic, entities.get("ai_tool") or None


def answer_ai_question(text: str, path: Union[str, Path, None] = None) -> AiAnswer:
    """The answer to a patient's question about AI, from the content file (re-read when it
    changes). `text` may also be a follow-up button's payload."""
    data = load_ai_use(path)
    chosen = parse_topic_payload(text)
    topic, tool = chosen if chosen else classify(text, data)
    return answer_for(topic, tool, data=data)


def answer_for(topic: str, tool: Optional[str] = None, *, data: Optional[dict] = None,
               path: Union[str, Path, None] = None) -> AiAnswer:
    """The answer to one kind of question, about one tool when `tool` is given."""
    data = data if data is not None else load_ai_use(path)
    tools = data.get("tools", {}) or {}
    if tool not in tools or topic not in TOOL_FIELD_FOR_TOPIC:
        tool = None
    if tool is not None:
        entry = tools[tool]
        text = entry.get(TOOL_FIELD_FOR_TOPIC[topic]) or entry["purpose"]
        return AiAnswer(topic, _fill(text), _tool_follow_up(data, topic, tool), tool)
    if topic == "tool" or topic not in (data.get("questions") or {}):
        topic = "general"
    question = data["questions"][topic]
    if topic == "tools":
        lines = [_fill(question["answer"])] + [f"• {_fill(t['one_line'])}" for t in tools.values()]
        # One button per tool: the list is where a patient picks which one to hear about.
        follow = [(t.get("button") or t["name"], topic_payload("tool", key)) for key, t in tools.items()]
        return AiAnswer("tools", "\n".join(lines), follow + [_human_button(data)])
    follow = _topic_buttons(data, question.get("follow_up") or [], skip=topic)
    return AiAnswer(topic, _fill(question["answer"]), follow)


def _topic_buttons(data: dict, topics: Sequence[str], skip: str) -> List[Tuple[str, str]]:
    titles = data.get("buttons", {}) or {}
    buttons = [(titles[t], topic_payload(t)) for t in topics if t not in (skip, "human") and t in titles]
    return buttons[:MAX_FOLLOW_UPS] + [_human_button(data)]


def _tool_follow_up(data: dict, topic: str, tool: str) -> List[Tuple[str, str]]:
    titles = data.get("tool_buttons", {}) or {}
    wanted = [t for t in (data.get("tool_follow_up") or []) if t != topic and t in titles]
    buttons = [(titles[t], topic_payload(t, tool)) for t in wanted[:MAX_FOLLOW_UPS]]
    return buttons + [_human_button(data)]


def _human_button(data: dict) -> Tuple[str, str]:
    return ((data.get("buttons") or {}).get("human", "Talk to a person"), HANDOFF_PAYLOAD)


def all_answers(path: Union[str, Path, None] = None) -> List[AiAnswer]:
    """Every answer the content file can produce, as sent (for the readability check)."""
    data = load_ai_use(path)
    answers = [answer_for(topic, data=data) for topic in (data.get("questions") or {})]
    for key, tool in (data.get("tools") or {}).items():
        for topic, name in TOOL_FIELD_FOR_TOPIC.items():
            if tool.get(name):
                answers.append(answer_for(topic, key, data=data))
    return answers

"""Staff handbook answering engine: BM25 over the practice's own markdown handbook.

The handbook is a folder of markdown files the practice edits (bot/content/handbook/ in the
demo). Each file is one topic: a `#` title, an optional `Owner: ...` line, and `##` sections.
A section is the unit we retrieve and quote. Nothing here paraphrases: an answer is the
section text itself (or a verbatim extract of its most relevant lines), with its title and
file, so the bot can never invent policy.

Why BM25 and not a model: it needs no training (edits are live within seconds), it is fast
(well under a millisecond per question on 500 sections), and every decision can be explained
by the words that matched. Staff shorthand is bridged with an abbreviation table applied to
both the handbook and the question, a synonym table used to expand the question only, light
suffix stemming, and a one-edit typo corrector against the handbook's own vocabulary.

Pure Python (no Rasa imports) so the action server, tests and the evaluator share it.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from rank_bm25 import BM25Okapi

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HANDBOOK_DIR = REPO_ROOT / "bot" / "content" / "handbook"
DEFAULT_OWNER = "the practice manager"

# Decision thresholds. Tuned on tests/faq_eval/dev_set.yml only (`python -m
# actions.handbook_eval --tune`), never on the test set.
# - MIN_COVERAGE: share of the question's informative words (IDF-weighted) that the best
#   section contains. Below it the handbook does not talk about what was asked -> unknown.
# - MIN_SCORE: BM25 floor, stops one rare shared word from passing as an answer.
# - CLARIFY_RATIO: second score / best score at or above which we ask which one was meant.
# - OWNER_HINT_COVERAGE: when declining, name the closest topic's owner only if the closest
#   section was at least this related; otherwise name the default owner (practice manager).
MIN_COVERAGE = 0.32
MIN_SCORE = 10.0
CLARIFY_RATIO = 0.9
OWNER_HINT_COVERAGE = 0.30
# - FULL_COVERAGE: at or above this coverage, the MIN_SCORE floor is waived.
FULL_COVERAGE = 0.8

MAX_EXCERPT_CHARS = 900
SYNONYM_WEIGHT = 0.2
# A question word the handbook never uses counts against coverage like a fairly rare word.
OOV_IDF_FACTOR = 0.7
TYPO_WEIGHT = 0.8
SECTION_TITLE_REPEAT = 2  # section titles count twice: they name what the section is for
TOPIC_TITLE_REPEAT = 1
ALSO_ASKED_REPEAT = 2
BM25_K1 = 1.6
BM25_B = 0.75
FILE_SCORE_WEIGHT = 0.3


# --------------------------------------------------------------------------------------
# Text normalisation: the same pipeline runs on handbook text and on questions.
# --------------------------------------------------------------------------------------

# Staff shorthand -> words the handbook uses. Applied to handbook and question alike, so a
# section written with "Rx" matches a question written with "prescription" and vice versa.
_COMMON_DRUGS = """metformin lisinopril atorvastatin simvastatin rosuvastatin amlodipine losartan
    levothyroxine synthroid omeprazole pantoprazole sertraline zoloft fluoxetine prozac escitalopram
    lexapro citalopram bupropion wellbutrin trazodone gabapentin prednisone amoxicillin augmentin
    azithromycin zpak doxycycline cephalexin keflex albuterol inhaler insulin ibuprofen advil motrin
    tylenol acetaminophen naproxen aleve hydrochlorothiazide hctz metoprolol carvedilol warfarin
    eliquis xarelto montelukast singulair cetirizine zyrtec loratadine claritin flonase""".split()
_SPECIALTIES = """ent cardiology cardiologist derm dermatology dermatologist ortho orthopedics
    orthopedic gi gastro gastroenterology neuro neurology neurologist obgyn ob/gyn gyn urology
    urologist podiatry podiatrist endo endocrinology endocrinologist pulm pulmonology rheum
    rheumatology oncology oncologist ophtho ophthalmology optometrist allergist psych psychiatry
    psychiatrist nephrology""".split()

ABBREVIATIONS: Dict[str, str] = {
    **{drug: "medication" for drug in _COMMON_DRUGS},
    **{specialty: "specialist" for specialty in _SPECIALTIES},
    "pt": "patient", "pts": "patient", "pt's": "patient", "ptnt": "patient",
    "rx": "prescription", "rxs": "prescription", "rx's": "prescription",
    "script": "prescription", "scripts": "prescription", "scrip": "prescription",
    "pa": "priorauth", "pas": "priorauth", "pa's": "priorauth", "auth": "authorization",
    "auths": "authorization", "preauth": "priorauth", "pre-auth": "priorauth",
    "appt": "appointment", "appts": "appointment", "apt": "appointment", "apts": "appointment",
    "dr": "doctor", "drs": "doctor", "doc": "doctor", "md": "doctor", "dr.": "doctor",
    "np": "provider", "rn": "nurse", "lpn": "nurse", "ma": "medical assistant",
    "fridge": "refrigerator", "fridges": "refrigerator", "frig": "refrigerator",
    "temp": "temperature", "temps": "temperature",
    "emr": "ehr", "epic": "ehr", "athena": "ehr",
    "cs": "controlled", "c2": "controlled schedule ii", "cii": "controlled schedule ii",
    "benzo": "benzodiazepine controlled", "benzos": "benzodiazepine controlled",
    "adderall": "stimulant controlled", "ritalin": "stimulant controlled",
    "vyvanse": "stimulant controlled", "xanax": "benzodiazepine controlled",
    "ativan": "benzodiazepine controlled", "klonopin": "benzodiazepine controlled",
    "valium": "benzodiazepine controlled", "ambien": "zolpidem controlled",
    "oxy": "opioid controlled", "oxycodone": "opioid controlled",
    "hydrocodone": "opioid controlled", "norco": "opioid controlled",
    "percocet": "opioid controlled", "tramadol": "opioid controlled",
    "narcotic": "opioid controlled", "narcotics": "opioid controlled",
    "painkillers": "opioid", "ozempic": "glp-1", "wegovy": "glp-1", "mounjaro": "glp-1",
    "bp": "blood pressure", "er": "emergency department", "ins": "insurance",
    "dob": "date birth", "roi": "release information", "mgr": "manager", "mgmt": "manager",
    "vm": "voicemail", "msg": "message", "msgs": "message", "info": "information",
    "req": "request", "reqs": "request", "sched": "schedule", "pcp": "primary care",
    "pto": "timeoff", "ooo": "timeoff", "asap": "urgent", "dx": "diagnosis",
    "hx": "history", "sx": "symptoms", "f/u": "followup", "fu": "followup",
    "tmrw": "tomorrow", "tmr": "tomorrow", "wk": "week", "wks": "week", "mins": "minutes",
    "min": "minutes", "hrs": "hours", "hr": "hour",
    "telemed": "telehealth", "telemedicine": "telehealth", "virtual": "video",
    "zoom": "video", "vid": "video", "pw": "password", "pwd": "password",
    "acct": "account", "bal": "balance", "pmt": "payment", "pymt": "payment",
    "tb": "tuberculosis", "noro": "norovirus", "cpr": "compressions",
    "uds": "urine drug screen", "pmp": "pdmp", "gfe": "goodfaithestimate",
    "vri": "video remote interpreting", "xmas": "christmas", "thx": "", "pls": "",
    "plz": "", "u": "you", "ur": "your", "w/": "with", "w/o": "without", "b/c": "because",
    "mychart": "portal", "meds": "medication", "med": "medication",
    "vax": "vaccine", "vaxx": "vaccine", "vacc": "vaccine", "vaccs": "vaccine",
    "imms": "immunization", "mmr": "vaccine", "tdap": "vaccine",
    "tonight": "night", "overnight": "night", "saturday": "weekend", "sunday": "weekend",
    "husband": "family", "wife": "family", "lobby": "waiting room", "bathroom": "restroom", "ipad": "tablet", "ipads": "tablet",
    "cc": "credit card", "ach": "payment", "insur": "insurance",
}

# Multi-word expressions folded into one token so "on call", "on-call" and "oncall" agree.
PHRASES: Sequence[Tuple[str, str]] = (
    (r"\bon[\s-]?call\b", "oncall"),
    (r"\b(?:no[\s-]?shows?|no[\s-]?showed|(?:does|did|do)(?:n'?t| not) show(?: up)?|never showed(?: up)?|dna)\b", "noshow"),
    (r"\bwalk[\s-]?ins?\b", "walkin"),
    (r"\bco[\s-]?pays?\b", "copay"),
    (r"\bself[\s-]?pay(?:ing)?\b", "selfpay"),
    (r"\bfollow[\s-]?ups?\b", "followup"),
    (r"\bprior[\s-]?auth(?:orization|orisation|orizations|orisations|s)?\b", "priorauth"),
    (r"\bcode[\s-]?blue\b", "codeblue"),
    (r"\bcrash[\s-]?cart\b", "crashcart"),
    (r"\b(?:needle[\s-]?sticks?|stuck (?:myself|herself|himself)|stuck (?:by|with) a (?:used )?needle|stuck with a needle)\b", "needlestick"),
    (r"\bc\.?\s?diff(?:icile)?\b", "cdiff"),
    (r"\bsign language\b", "asl"),
    (r"\bvoice[\s-]?mails?\b", "voicemail"),
    (r"\bgood faith estimates?\b", "goodfaithestimate"),
    (r"\b(?:time[\s-]?off|days? off|vacation days?|annual leave|leave request)\b", "timeoff"),
    (r"\bafter[\s-]?hours?\b", "afterhours"),
    (r"\bx[\s-]?rays?\b", "xray"),
    (r"\bwi[\s-]?fi\b", "wifi"),
    (r"\bcall(?:ing)?[\s-]?back\b|\bcallbacks?\b|\bcall me back\b", "callback"),
    (r"\bsame[\s-]?day\b", "sameday"),
    (r"\bpassed out\b|\bblacked out\b|\bkeeled over\b", "collapsed"),
    (r"\bpanic button\b", "panicbutton"),
    (r"\bbreak[\s-]?room\b|\blunch[\s-]?room\b", "staff room"),
    (r"\bprescription pads?\b|\brx pads?\b|\bscript pads?\b", "prescriptionpad"),
    (r"\bpeer[\s-]?to[\s-]?peer\b", "peertopeer"),
    (r"\bpayment plans?\b|\bpay(?:ing)? (?:it )?(?:off )?in installments\b", "paymentplan"),
    (r"\bnew[\s-]?(?:patient|pt)s?\b", "newpatient patient"),
    (r"\be[\s-]?prescrib\w*\b", "epcs"),
    (r"\bdata[\s-]?logger\b", "datalogger"),
    (r"\bsharps? (?:container|bin|box)e?s?\b", "sharpscontainer sharps"),
)

BRITISH_TO_US = {
    "authorisation": "authorization", "authorise": "authorize", "authorised": "authorized",
    "organise": "organize", "prioritise": "prioritize", "recognise": "recognize",
    "apologise": "apologize", "sanitise": "sanitize", "sanitiser": "sanitizer",
    "immunisation": "immunization", "immunisations": "immunizations", "paediatric": "pediatric",
    "centre": "center", "centres": "centers", "haemolysed": "hemolyzed", "hemolysed": "hemolyzed",
    "diarrhoea": "diarrhea", "colour": "color", "labelled": "labeled", "labelling": "labeling",
    "counselling": "counseling", "cheque": "check", "enrol": "enroll", "rota": "rotation",
    "rotas": "rotation", "roster": "rotation",
}

# Related words, used to expand the question only (lower weight than the words typed).
SYNONYM_GROUPS: Sequence[str] = (
    "breach incident leak privacy hipaa phi",
    "wrong misdirected mistakenly accidentally",
    "refrigerator freezer unit",
    "vaccine vaccines immunization shot shots jab flu",
    "temperature excursion warm degrees thermometer reading",
    "sick ill illness flu fever",
    "timeoff vacation holiday leave",
    "swap switch trade",
    "complaint complain complaining upset angry unhappy grievance rude",
    "interpreter translator translate interpreting language spanish",
    "bill billing statement invoice balance owe owes",
    "cost price fee fees charge charged charges",
    "refund overpayment overpaid reimburse",
    "referral refer referred specialist",
    "record records chart copies copy",
    "lawyer attorney subpoena court legal",
    "late tardy",
    "cancel cancellation cancelled canceled",
    "noshow missed miss",
    "emergency unresponsive collapsed collapse faint fainted codeblue cardiac compressions",
    "aggressive violent threatening abusive hostile yelling shouting screaming",
    "fire evacuate evacuation smoke",
    "needle sharps lancet needles",
    "blood specimen specimens sample samples tube tubes draw",
    "courier pickup collect collection",
    "label labels labeling sticker stickers",
    "printer print printing toner ink jam jammed",
    "downtime outage down offline crashed unavailable",
    "ehr system computer",
    "forged forgery fake altered fraudulent",
    "stolen lost missing theft stole",
    "minor teen teenager adolescent kid kids child underage",
    "parent mom dad mother father guardian grandparent grandma grandmother",
    "consent permission",
    "divorce divorced custody separated",
    "portal app",
    "password login locked",
    "clean cleaning wipe wipes disinfect disinfectant sanitize",
    "isolation infectious contagious",
    "waste trash garbage",
    "spill vomit splash",
    "callback advice",
    "result results lab labs",
    "abnormal critical panic",
    "telehealth video",
    "connect join link",
    "walkin sameday",
    "insurance plan coverage insurer",
    "rotation schedule",
    "escalate escalation supervisor boss charge",
    "deny denied denial rejected reject declined",
    "approve approved authorize sign",
    "weather snow ice storm",
    "close closed closure closing shut",
    "christmas thanksgiving memorial labor independence holiday holidays",
    "break lunch",
    "delivery shipment shipped arrived",
    "pharmacy pharmacist pharmacies",
    "opioid opioids painkiller",
    "early travel travelling traveling trip",
    "police cops",
    "reporter media press news",
    "review reviews yelp google",
    "estimate quote",
    "intake registration register paperwork forms",
    "fax faxed faxing",
    "id identification license",
    "deaf hearing asl",
    "fall fell slip slipped trip tripped",
    "bathroom restroom toilet",
    "snoop snooping peek peeking breach",
    "tablet laptop phone device",
    "relative relatives aunt uncle cousin stepdad stepmom step-parent grandparent babysitter",
    "medication medicine medicines drug drugs",
    "imaging mri ct scan xray ultrasound",
    "mark marked status",
)

STOPWORDS = frozenset(
    """a about above after again all also am an and any are aren't as at be because been
    before being below both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't during each few for from further had hadn't has hasn't
    have haven't having he he'd he's her here hers herself him himself his how how's i i'd
    i'm i've if in into is isn't it it's its itself let's me more most my myself no nor not
    of off on once only or other ought our ours ourselves out over own same she she'd she's
    should shouldn't so some such than that that's the their theirs them themselves then
    there there's these they they'd they're this those through to too under until up very
    was wasn't we we'd we're we've were weren't what what's when when's where where's which
    while who who's whom why why's will with won't would wouldn't you you'd you're you've
    your yours yourself hi hey hello thanks thank please pls ok okay just get got need
    needs want wants know anyone someone somebody something anything us im ive dont cant
    whats wheres whos hows go going gonna wanna supposed tell say said let like maple street
    clinic our we're today now still again really quick question qq do does doing done
    happens happen ask asking think thought saw see seen wondering wonder guess mean sure
    help way thing things stuff kind right ever already maybe actually yet um guys team
    someone's everyone anybody hasnt hadnt didnt doesnt isnt wasnt arent werent wont cant
    couldnt shouldnt wouldnt havent theres thats often soon fast quickly yesterday afternoon
    morning evening ago since reminder getting gets coming came anyway okay thing
    one ones""".split()
)

_TOKEN_RE = re.compile(r"[a-z0-9][a-z0-9'/.-]*[a-z0-9]|[a-z0-9]")
_ABBREV_RE = re.compile(
    r"(?<![\w/])(" + "|".join(re.escape(k) for k in sorted(ABBREVIATIONS, key=len, reverse=True)) + r")(?![\w/])"
)
_PHRASE_RES = [(re.compile(p), r) for p, r in PHRASES]
_BRITISH_RE = re.compile(r"\b(" + "|".join(BRITISH_TO_US) + r")\b")


def light_stem(word: str) -> str:
    """Conservative suffix stripping; consistency between handbook and question is what
    matters, not linguistics ("refills"/"refilled" -> "refil", "vaccination" -> "vaccin")."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, repl in (
        ("izations", "iz"), ("ization", "iz"), ("izing", "iz"), ("ized", "iz"), ("izes", "iz"),
        ("ize", "iz"), ("ational", "at"), ("ations", ""), ("ation", ""), ("ating", ""),
        ("ated", ""), ("ates", ""), ("ments", ""), ("ment", ""), ("ness", ""), ("ingly", ""),
        ("ings", ""), ("ing", ""), ("edly", ""), ("ies", "y"), ("ied", "y"), ("sses", "ss"),
        ("xes", "x"), ("ches", "ch"), ("shes", "sh"), ("ed", ""), ("ly", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: len(word) - len(suffix)] + repl
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) >= 4:
            word = word[:-1]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # refill/refil, controlled/control
    return word


def _expand_text(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = _BRITISH_RE.sub(lambda m: BRITISH_TO_US[m.group(1)], text)
    text = _ABBREV_RE.sub(lambda m: ABBREVIATIONS[m.group(1)], text)
    for pattern, repl in _PHRASE_RES:
        text = pattern.sub(repl, text)
    return text


def tokenize(text: str) -> List[str]:
    """Normalise, drop stopwords and stem: the terms that BM25 indexes and matches."""
    terms = []
    for raw in _TOKEN_RE.findall(_expand_text(text)):
        raw = raw.strip("'./-")
        if raw.endswith("'s"):
            raw = raw[:-2]
        for part in re.split(r"[/.'-]", raw) if not raw.replace("-", "").isdigit() else [raw]:
            if part and part not in STOPWORDS:
                terms.append(light_stem(part))
    return terms


def _stem_words(words: str) -> List[str]:
    return [t for t in tokenize(words)]


SYNONYMS: Dict[str, Tuple[str, ...]] = {}
for _group in SYNONYM_GROUPS:
    _stems = tuple(dict.fromkeys(t for w in _group.split() for t in _stem_words(w)))
    for _s in _stems:
        SYNONYMS[_s] = tuple(dict.fromkeys(SYNONYMS.get(_s, ()) + tuple(x for x in _stems if x != _s)))


# --------------------------------------------------------------------------------------
# Handbook model and results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandbookSection:
    file: str  # file name relative to the handbook folder
    topic: str  # the file's `#` title
    heading: str  # the `##` title ("Overview" for text before the first `##`)
    text: str  # section body, markdown, verbatim from the file
    owner: Optional[str]
    # "Staff also ask:" line: the words staff use for this section. Searched, never quoted.
    also_asked: str = ""

    @property
    def title(self) -> str:
        return f"{self.topic} › {self.heading}"


@dataclass(frozen=True)
class RankedSection:
    title: str  # "Topic › Section"
    file: str
    score: float
    text: str  # verbatim excerpt of the section
    heading: str
    topic: str
    owner: Optional[str]
    coverage: float  # share of the question's informative words found in this section


@dataclass(frozen=True)
class HandbookAnswer:
    kind: str  # "answer" | "clarify" | "unknown"
    sections: Tuple[RankedSection, ...] = ()
    owner: Optional[str] = None  # who to ask when kind == "unknown" (else the topic owner)
    topic: Optional[str] = None  # topic that owner belongs to, when named from the handbook
    confidence: float = 0.0


_OWNER_RE = re.compile(r"^\s*(?:\*\*|__)?owner(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(.+?)\s*$", re.I)
_META_RE = re.compile(r"^\s*(?:last reviewed|reviewed|updated)\s*:", re.I)
_ALSO_ASKED_RE = re.compile(r"^\s*(?:staff also ask|also asked|keywords)\s*:\s*(.*)$", re.I)


def parse_handbook_file(path: Path, rel_name: str) -> List[HandbookSection]:
    """Split one markdown file into sections. `###` and deeper stay inside their section."""
    lines = path.read_text(encoding="utf-8").splitlines()
    topic = None
    owner = None
    sections: List[Tuple[str, List[str], List[str]]] = []
    heading, body, also = "Overview", [], []
    for line in lines:
        if topic is None and line.startswith("# "):
            topic = line[2:].strip()
            continue
        if line.startswith("## "):
            sections.append((heading, body, also))
            heading, body, also = line[3:].strip(), [], []
            continue
        m = _ALSO_ASKED_RE.match(line)
        if m:
            also.append(m.group(1))
            continue
        m = _OWNER_RE.match(line)
        if m and owner is None:
            owner = m.group(1).strip()
            continue
        if _META_RE.match(line):
            continue
        body.append(line)
    sections.append((heading, body, also))
    topic = topic or rel_name.rsplit(".", 1)[0].replace("-", " ").replace("_", " ").capitalize()
    result = []
    for head, body_lines, also_lines in sections:
        text = "\n".join(body_lines).strip()
        if text:
            result.append(HandbookSection(rel_name, topic, head, text, owner, " ".join(also_lines)))
    return result


class _Bm25Postings:
    """BM25 over one corpus, as postings lists so a question only touches documents that
    share a term with it. rank_bm25 supplies the IDF (with its floor for very common words)."""

    def __init__(self, corpus: List[List[str]], k1: float, b: float):
        bm25 = BM25Okapi([doc or ["__empty__"] for doc in corpus], k1=k1, b=b)
        self.idf: Dict[str, float] = dict(bm25.idf)
        self.size = len(corpus)
        doc_len = np.asarray(bm25.doc_len, dtype=np.float64)
        norm = k1 * (1 - b + b * doc_len / max(bm25.avgdl, 1e-9))
        postings: Dict[str, Tuple[List[int], List[int]]] = {}
        for i, freqs in enumerate(bm25.doc_freqs):
            for term, tf in freqs.items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self.postings: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
        for term, (ids, tfs) in postings.items():
            ids_a = np.asarray(ids, dtype=np.int64)
            tf_a = np.asarray(tfs, dtype=np.float64)
            # Per-posting BM25 weight times IDF; only the question's term weight is left.
            self.postings[term] = (ids_a, self.idf[term] * tf_a * (k1 + 1) / (tf_a + norm[ids_a]))

    def scores(self, weights: Dict[str, float]) -> np.ndarray:
        scores = np.zeros(self.size)
        for term, w in weights.items():
            posting = self.postings.get(term)
            if posting is not None:
                scores[posting[0]] += w * posting[1]
        return scores


class _Index:
    """Immutable search structures for one snapshot of the handbook folder."""

    def __init__(self, sections: List[HandbookSection]):
        self.sections = sections
        corpus = []
        self.term_sets = []
        by_file: Dict[str, List[str]] = {}
        for s in sections:
            doc = (tokenize(s.topic) * TOPIC_TITLE_REPEAT + tokenize(s.heading) * SECTION_TITLE_REPEAT
                   + tokenize(s.also_asked) * ALSO_ASKED_REPEAT + tokenize(s.text))
            corpus.append(doc)
            self.term_sets.append(frozenset(doc))
            by_file.setdefault(s.file, []).extend(doc)
        self.section_bm25 = _Bm25Postings(corpus, BM25_K1, BM25_B)
        # Whole-topic scores: a section whose topic as a whole is about the question gets a
        # lift, which settles "which file" before "which section of it".
        self.files = list(by_file)
        file_pos = {f: i for i, f in enumerate(self.files)}
        self.file_of_section = np.asarray([file_pos[s.file] for s in sections], dtype=np.int64)
        self.file_bm25 = _Bm25Postings([by_file[f] for f in self.files], BM25_K1, BM25_B)
        self.idf = self.section_bm25.idf
        self.postings = self.section_bm25.postings
        self.max_idf = max(self.idf.values()) if self.idf else 1.0
        self.doc_freq = {t: len(p[0]) for t, p in self.postings.items()}
        # One-edit typo index (symmetric deletes): maps each term with one letter removed
        # back to the real terms, so "perscription" finds "prescription" in O(word length).
        self.deletes: Dict[str, List[str]] = {}
        for term in self.postings:
            if len(term) >= 4 and term.isalpha():
                for variant in _deletes(term) | {term}:
                    self.deletes.setdefault(variant, []).append(term)

    def scores(self, weights: Dict[str, float]) -> np.ndarray:
        section = self.section_bm25.scores(weights)
        if FILE_SCORE_WEIGHT and self.files:
            section = section + FILE_SCORE_WEIGHT * self.file_bm25.scores(weights)[self.file_of_section]
        return section

    def correct(self, term: str) -> Optional[str]:
        # Short words are too often real words the handbook lacks ("aunt" is not "unit").
        if len(term) < 6 or not term.isalpha():
            return None
        candidates = set()
        for variant in _deletes(term) | {term}:
            candidates.update(self.deletes.get(variant, ()))
        candidates.discard(term)
        if not candidates:
            return None
        return max(candidates, key=lambda c: (self.doc_freq.get(c, 0), c))


def _deletes(word: str) -> set:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


# --------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------


class Handbook:
    """Answers staff questions from a handbook folder; reloads itself when files change."""

    def __init__(
        self,
        folder: Optional[os.PathLike] = None,
        *,
        reload_check_seconds: float = 2.0,
        default_owner: Optional[str] = None,
        min_coverage: float = MIN_COVERAGE,
        min_score: float = MIN_SCORE,
        clarify_ratio: float = CLARIFY_RATIO,
        owner_hint_coverage: float = OWNER_HINT_COVERAGE,
        full_coverage: float = FULL_COVERAGE,
    ):
        self.folder = Path(folder or os.environ.get("HANDBOOK_DIR") or DEFAULT_HANDBOOK_DIR)
        self.reload_check_seconds = reload_check_seconds
        self._default_owner = default_owner
        self.min_coverage = min_coverage
        self.min_score = min_score
        self.clarify_ratio = clarify_ratio
        self.owner_hint_coverage = owner_hint_coverage
        self.full_coverage = full_coverage
        self._lock = threading.Lock()
        self._signature: Optional[tuple] = None
        self._index: Optional[_Index] = None
        self._last_check = 0.0
        self._maybe_reload(force=True)

    # -- loading ------------------------------------------------------------------------

    def _folder_signature(self) -> tuple:
        # Cheap change detection: name, size and mtime of each .md file (no file reads).
        try:
            entries = [e for e in os.scandir(self.folder) if e.name.endswith(".md") and e.is_file()]
        except FileNotFoundError:
            raise FileNotFoundError(
                f"Handbook folder {self.folder} does not exist. Create it with one markdown file "
                f"per topic, or point HANDBOOK_DIR at the practice's handbook folder."
            ) from None
        return tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries))

    def _maybe_reload(self, force: bool = False) -> _Index:
        now = time.monotonic()
        if not force and self._index is not None and now - self._last_check < self.reload_check_seconds:
            return self._index
        with self._lock:
            self._last_check = now
            signature = self._folder_signature()
            if signature != self._signature or self._index is None:
                sections: List[HandbookSection] = []
                for name, _, _ in signature:
                    try:
                        sections.extend(parse_handbook_file(self.folder / name, name))
                    except (OSError, UnicodeDecodeError) as exc:
                        # Keep answering from the other files; the editor needs to fix this one.
                        logger.warning("Skipping handbook file %s: %s (save it as UTF-8 text)", name, exc)
                self._index = _Index(sections)
                self._signature = signature
                logger.info("Handbook loaded: %d sections from %d files", len(sections), len(signature))
            return self._index

    @property
    def sections(self) -> List[HandbookSection]:
        return self._maybe_reload().sections

    @property
    def default_owner(self) -> str:
        if self._default_owner:
            return self._default_owner
        for s in self._maybe_reload().sections:
            if s.file.lower() == "readme.md" and s.owner:
                return s.owner
        return DEFAULT_OWNER

    # -- querying -----------------------------------------------------------------------

    def _query_terms(self, index: _Index, question: str) -> Tuple[Dict[str, float], List[Tuple[str, float, Tuple[str, ...]]]]:
        """Weighted query terms for scoring, plus (term, idf, accepted matches) for coverage."""
        weights: Dict[str, float] = {}
        informative: List[Tuple[str, float, Tuple[str, ...]]] = []
        for term in dict.fromkeys(tokenize(question)):
            base = term
            weight = 1.0
            if term not in index.postings and term not in SYNONYMS:
                fixed = index.correct(term)
                if fixed:
                    base, weight = fixed, TYPO_WEIGHT
            weights[base] = max(weights.get(base, 0.0), weight)
            syns = tuple(s for s in SYNONYMS.get(base, ()) if s in index.postings)
            for syn in syns:
                if syn not in weights:
                    weights[syn] = SYNONYM_WEIGHT
            idf = index.idf.get(base, OOV_IDF_FACTOR * index.max_idf)
            informative.append((base, max(idf, 0.05), syns))
        return weights, informative

    def rank(self, question: str, top_k: int = 3) -> List[RankedSection]:
        index = self._maybe_reload()
        weights, informative = self._query_terms(index, question)
        if not index.sections:
            return []
        scores = index.scores(weights)
        k = min(top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        total = sum(idf for _, idf, _ in informative) or 1.0
        ranked = []
        for i in top:
            if scores[i] <= 0:
                break
            section = index.sections[i]
            terms = index.term_sets[i]
            covered = 0.0
            for term, idf, syns in informative:
                if term in terms:
                    covered += idf
                elif any(s in terms for s in syns):
                    covered += 0.6 * idf
            ranked.append(
                RankedSection(
                    title=section.title,
                    file=section.file,
                    score=float(scores[i]),
                    text=excerpt(section.text, set(weights)),
                    heading=section.heading,
                    topic=section.topic,
                    owner=section.owner,
                    coverage=covered / total,
                )
            )
        return ranked

    def answer(self, question: str) -> HandbookAnswer:
        return self.decide(self.rank(question, top_k=3))

    def decide(self, ranked: Sequence[RankedSection]) -> HandbookAnswer:
        """Answer, ask which of two, or decline — from the ranked sections alone."""
        ranked = list(ranked)
        if not ranked:
            return HandbookAnswer("unknown", (), owner=self.default_owner, confidence=0.0)
        best = ranked[0]
        # A short question can match fully and still score low, so the score floor only
        # applies when some of the question's words were not found.
        weak = best.score < self.min_score and best.coverage < self.full_coverage
        if best.coverage < self.min_coverage or weak:
            if best.coverage >= self.owner_hint_coverage and best.owner:
                return HandbookAnswer("unknown", tuple(ranked), owner=best.owner, topic=best.topic,
                                      confidence=best.coverage)
            return HandbookAnswer("unknown", tuple(ranked), owner=self.default_owner, confidence=best.coverage)
        if len(ranked) > 1 and ranked[1].score >= self.clarify_ratio * best.score:
            return HandbookAnswer("clarify", tuple(ranked), owner=best.owner, topic=best.topic,
                                  confidence=best.coverage)
        return HandbookAnswer("answer", tuple(ranked), owner=best.owner, topic=best.topic,
                              confidence=best.coverage)


def excerpt(text: str, query_terms: Iterable[str], limit: int = MAX_EXCERPT_CHARS) -> str:
    """The section verbatim if it fits; otherwise its most relevant lines, in their original
    order, joined with "…". Lines are never rewritten, so nothing is said the handbook
    does not say."""
    if len(text) <= limit:
        return text
    query_terms = set(query_terms)
    blocks: List[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if re.match(r"\s*(?:[-*•]|\d+[.)])\s", line):
            blocks.append(line)
        else:  # split prose paragraphs into sentences
            blocks.extend(s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])", line.strip()) if s)
    scored = []
    for i, block in enumerate(blocks):
        hits = len(query_terms.intersection(tokenize(block)))
        scored.append((hits + (0.5 if i == 0 else 0.0), -i, i))  # lead sentence gives context
    chosen: List[int] = []
    used = 0
    for _, _, i in sorted(scored, reverse=True):
        if used + len(blocks[i]) + 2 > limit:
            continue
        chosen.append(i)
        used += len(blocks[i]) + 2
    chosen.sort()
    out: List[str] = []
    prev = -1
    for i in chosen:
        if prev >= 0 and i != prev + 1:
            out.append("…")
        out.append(blocks[i])
        prev = i
    if chosen and chosen[-1] != len(blocks) - 1:
        out.append("…")
    return "\n".join(out)


# --------------------------------------------------------------------------------------
# Slack formatting
# --------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters: escaping them stops handbook or question text from
    forming links, user mentions or <!channel> pings."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _markdown_to_mrkdwn(text: str) -> str:
    text = slack_escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)  # **bold** -> *bold*
    text = re.sub(r"__(.+?)__", r"*\1*", text)
    text = re.sub(r"(?m)^(\s*)[-*]\s+", r"\1• ", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)  # links spelled out, not hidden
    return text


def format_answer(result: HandbookAnswer) -> str:
    """Render a HandbookAnswer as Slack mrkdwn."""
    if result.kind == "answer" and result.sections:
        top = result.sections[0]
        quoted = "\n".join("> " + line if line.strip() else ">" for line in _markdown_to_mrkdwn(top.text).splitlines())
        source = f"_From the handbook: `{slack_escape(top.file)}`"
        if top.owner:
            source += f" · owner: {slack_escape(top.owner)}"
        return f"*{slack_escape(top.title)}*\n{quoted}\n{source}_"
    if result.kind == "clarify" and len(result.sections) >= 2:
        options = "\n".join(
            f"{n}. *{slack_escape(s.title)}* (`{slack_escape(s.file)}`)" for n, s in enumerate(result.sections[:2], 1)
        )
        return (
            "Two handbook sections could answer that. Which one do you mean?\n"
            f"{options}\nReply with 1 or 2, or ask again with more detail."
        )
    owner = slack_escape(result.owner or DEFAULT_OWNER)
    if result.topic:
        who = f"please ask {owner}, who owns the handbook topic *{slack_escape(result.topic)}*"
    else:
        who = f"please ask {owner}"
    return f"I couldn't find this in the staff handbook, so I won't guess: {who}."


# --------------------------------------------------------------------------------------
# Module-level convenience for the action server
# --------------------------------------------------------------------------------------

_default: Optional[Handbook] = None
_default_lock = threading.Lock()


def get_handbook() -> Handbook:
    global _default
    with _default_lock:
        if _default is None:
            _default = Handbook()
        return _default


def answer(question: str) -> HandbookAnswer:
    """Answer from the configured handbook (HANDBOOK_DIR, default bot/content/handbook)."""
    return get_handbook().answer(question)

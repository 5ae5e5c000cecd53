"""Obviously synthetic identifier values in the formats patients type them.

Phones use the 555-01xx fiction range, SSNs the never-issued 9xx area, emails example.* or a
free-mail domain with a made-up user, IPs the documentation ranges. Names come from Faker
(random first+last combinations, several locales so not every name is on a census list).
"""
from __future__ import annotations

import datetime as dt
import random

from faker import Faker

from privacy.recognizers.dea import dea_checksum_ok
from privacy.recognizers.npi import npi_checksum_ok

STREET_SUFFIXES = ["St", "Street", "Ave", "Avenue", "Rd", "Road", "Dr", "Drive", "Ln", "Lane", "Blvd", "Ct", "Way", "Pl", "Cir", "Pkwy", "Trl", "Ter", "Hwy"]
STREET_NAMES = ["Main", "Oak", "Maple", "Cedar", "Elm", "Pine", "Washington", "Lake", "Hill", "Park", "Sunset", "Ridge", "Willow", "Church", "Mill", "5th", "3rd", "12th", "Lincoln", "Jackson"]
CITIES = ["Austin", "Springfield", "Riverton", "Fairview", "Greenville", "Franklin", "Madison", "Clinton", "Salem", "Georgetown", "San Marcos", "Round Rock"]
STATES = ["TX", "IL", "OR", "CA", "NY", "OH", "GA", "WA", "Texas", "Ohio"]
MEDS = ["lisinopril", "metformin", "atorvastatin", "amlodipine", "levothyroxine", "omeprazole", "sertraline", "albuterol", "gabapentin", "losartan", "Eliquis", "Ozempic", "insulin", "prednisone", "amoxicillin", "Zoloft", "Tylenol"]
DOSES = ["10mg", "20 mg", "500mg", "0.5 mg", "25mcg", "2 puffs", "1000 mg", "40mg", "81 mg", "5 ml", "1 tab", "2 tablets"]
SYMPTOMS = ["a headache", "chest pain", "a cough", "fever", "back pain", "a rash", "nausea", "dizziness", "a sore throat", "knee pain", "shortness of breath", "heartburn"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
RELDATES = ["next tuesday", "tomorrow", "this afternoon", "in 2 weeks", "next week", "friday morning", "later today", "monday at 3pm", "in a month", "tonight"]
LOCALES = ["en_US"] * 7 + ["es_MX", "en_IN", "en_GB", "fr_FR", "vi_VN"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


class ValueMaker:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        # sorted: set order changes between processes (hash seed) and would change the data set
        self.fakers = {loc: Faker(loc) for loc in sorted(set(LOCALES))}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 100 + i)

    def _faker(self) -> Faker:
        return self.fakers[self.rng.choice(LOCALES)]

    def _ascii_name(self, kind: str) -> str:
        for _ in range(20):
            f = self._faker()
            v = f.first_name() if kind == "first" else f.last_name()
            if v.isascii() and " " not in v:
                return v
        return "Testy" if kind == "first" else "McFakeface"

    # --- identifiers ---------------------------------------------------------------
    def first(self) -> str:
        return self._ascii_name("first")

    def last(self) -> str:
        return self._ascii_name("last")

    def name(self) -> str:
        first, last = self.first(), self.last()
        r = self.rng.random()
        if r < 0.1:
            return f"{last}, {first}"
        if r < 0.2:
            return f"{first} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
        return f"{first} {last}"

    def _date(self, start=1930, end=2005) -> dt.date:
        return dt.date(start, 1, 1) + dt.timedelta(days=self.rng.randrange((end - start) * 365))

    def dob(self) -> str:
        d = self._date()
        fmts = [
            f"{d:%m/%d/%Y}", f"{d.month}/{d.day}/{d.year}", f"{d.month}/{d.day}/{d:%y}", f"{d:%m-%d-%Y}",
            f"{d:%Y-%m-%d}", f"{MONTHS[d.month-1]} {d.day}, {d.year}", f"{MONTHS[d.month-1][:3]} {d.day} {d.year}",
            f"{d.day} {MONTHS[d.month-1]} {d.year}", f"{MONTHS[d.month-1].lower()} {_ordinal(d.day)} {d.year}",
            f"{d:%m.%d.%Y}", f"{d:%m%d%Y}", f"{_ordinal(d.day)} of {MONTHS[d.month-1]} {d.year}",
        ]
        return self.rng.choice(fmts)

    def date(self) -> str:
        d = self._date(2024, 2026)
        fmts = [f"{d.month}/{d.day}", f"{MONTHS[d.month-1]} {d.day}", f"{MONTHS[d.month-1][:3]} {_ordinal(d.day)}",
                f"{d.day} {MONTHS[d.month-1]}", f"{d:%m/%d/%Y}", f"{MONTHS[d.month-1].lower()} {d.day}"]
        return self.rng.choice(fmts)

    def phone(self) -> str:
        area = self.rng.choice([512, 737, 214, 312, 503, 415, 646, 404, 206, 617, 303, 919])
        line = f"01{self.rng.randrange(100):02d}"
        fmts = [f"({area}) 555-{line}", f"{area}-555-{line}", f"{area}.555.{line}", f"{area}555{line}",
                f"+1 {area} 555 {line}", f"1-{area}-555-{line}", f"{area} 555 {line}", f"555-{line}",
                f"{area}-555-{line} ext {self.rng.randrange(1, 999)}", f"({area})555-{line}", f"+1{area}555{line}",
                f"{area}-555-{line} x{self.rng.randrange(10, 99)}"]
        return self.rng.choice(fmts)

    def email(self) -> str:
        user = f"{self.first().lower()}{self.rng.choice(['.', '_', ''])}{self.last().lower()}{self.rng.choice(['', str(self.rng.randrange(99))])}"
        return f"{user}@{self.rng.choice(['example.com', 'example.org', 'example.net', 'gmail.com', 'yahoo.com', 'outlook.com'])}"

    def ssn(self) -> str:
        a, g, s = self.rng.randrange(900, 999), self.rng.randrange(1, 99), self.rng.randrange(1, 9999)
        return self.rng.choice([f"{a}-{g:02d}-{s:04d}", f"{a} {g:02d} {s:04d}", f"{a}{g:02d}{s:04d}"])

    def mrn(self) -> str:
        n = self.rng.randrange(10**6, 10**8)
        return self.rng.choice([str(n), f"{n:08d}", f"A{n}", f"MR{n}", f"{str(n)[:2]}-{str(n)[2:5]}-{str(n)[5:]}"])

    def member_id(self) -> str:
        r = self.rng
        prefix = "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
        mbi = f"{r.randrange(1, 9)}{r.choice('ACDEFGHJKMNPQRTUVWXY')}{r.choice('ACDEFGHJKMNPQRTUVWXY0123456789')}{r.randrange(10)}-{r.choice('ACDEFGHJKMNPQRTUVWXY')}{r.randrange(10)}{r.randrange(10)}-{r.choice('ACDEFGHJKMNPQRTUVWXY')}{r.choice('ACDEFGHJKMNPQRTUVWXY')}{r.randrange(10)}{r.randrange(10)}"
        return r.choice([f"{prefix}{r.randrange(10**8, 10**9)}", f"W{r.randrange(10**8, 10**9)}",
                         f"{r.randrange(10**8, 10**9)}-01", f"{prefix.lower()}{r.randrange(10**8, 10**9)}", mbi,
                         f"{r.randrange(10**9, 10**10)}"])

    def account(self) -> str:
        r = self.rng
        return r.choice([str(r.randrange(10**7, 10**11)), f"ACCT-{r.randrange(10**5, 10**7)}", f"{r.randrange(1000, 9999)}-{r.randrange(1000, 9999)}"])

    def npi(self) -> str:
        while True:
            v = f"1{self.rng.randrange(10**8, 10**9)}"
            if npi_checksum_ok(v):
                return v

    def dea(self) -> str:
        while True:
            v = f"{self.rng.choice('ABFGM')}{self.rng.choice('ABCDEFGHJKLMNPRSTWXYZ')}{self.rng.randrange(10**6, 10**7)}"
            if dea_checksum_ok(v):
                return v

    def license(self) -> str:
        r = self.rng
        return r.choice([f"{r.choice('ABDFGS')}{r.randrange(10**6, 10**7)}", str(r.randrange(10**7, 10**8)),
                         f"{r.choice('ABDFGS')}{r.randrange(100, 999)}-{r.randrange(100, 999)}-{r.randrange(10, 99)}-{r.randrange(100, 999)}"])

    def address(self) -> str:
        r = self.rng
        line = f"{r.randrange(1, 9999)} {r.choice(['', 'N ', 'S ', 'E ', 'W '])}{r.choice(STREET_NAMES + [self.last()])} {r.choice(STREET_SUFFIXES)}"
        if r.random() < 0.3:
            line += r.choice([f" Apt {r.randrange(1, 400)}", f" apt {r.randrange(1, 40)}{r.choice('ABC')}", f" Unit {r.randrange(1, 99)}", f" #{r.randrange(1, 300)}"])
        if r.random() < 0.4:
            line += f"{r.choice([', ', ' '])}{r.choice(CITIES)}{r.choice([', ', ' '])}{r.choice(STATES)} {r.randrange(10000, 99999)}"
        return line if r.random() > 0.08 else f"PO Box {r.randrange(1, 9999)}"

    def zip(self) -> str:
        return self.rng.choice([f"{self.rng.randrange(10000, 99999)}", f"{self.rng.randrange(10000, 99999)}-{self.rng.randrange(1000, 9999)}"])

    def age_old(self) -> str:
        return str(self.rng.randrange(90, 105))

    def url(self) -> str:
        r = self.rng
        return r.choice([f"https://portal.example.com/u/{self.first().lower()}{r.randrange(999)}", f"www.example.org/profile/{r.randrange(10**5)}",
                         f"http://example.net/p?id={r.randrange(10**6)}", f"facebook.com/{self.first().lower()}.{self.last().lower()}"])

    def ip(self) -> str:
        r = self.rng
        return r.choice([f"192.0.2.{r.randrange(1, 255)}", f"198.51.100.{r.randrange(1, 255)}", f"203.0.113.{r.randrange(1, 255)}",
                         f"2001:db8::{r.randrange(1, 0xffff):x}"])

    # --- non-PHI fillers -------------------------------------------------------------
    def med(self): return self.rng.choice(MEDS)
    def dose(self): return self.rng.choice(DOSES)
    def bp(self): return f"{self.rng.randrange(100, 180)}/{self.rng.randrange(55, 99)}"
    def year(self): return str(self.rng.randrange(1995, 2025))
    def age_young(self): return str(self.rng.randrange(18, 90))
    def weekday(self): return self.rng.choice(WEEKDAYS)
    def reldate(self): return self.rng.choice(RELDATES)
    def symptom(self): return self.rng.choice(SYMPTOMS)
    def num(self): return str(self.rng.randrange(1, 12))
    def pain(self): return f"{self.rng.randrange(1, 10)}/10"

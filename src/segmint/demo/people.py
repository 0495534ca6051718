"""Who the profiles are: names, emails, demographics, ids, devices.

Customer ids are numbered in order of sign-up, as a shop's database would
number them. Emails are unique per customer (two customers sharing a
normalised email would be merged by identity resolution); the copies in
``customers.csv`` and in newsletter sign-ups are sometimes spelt with other
capitals or stray spaces, so that joining on a normalised email matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from segmint.demo import catalog as words
from segmint.demo.personas import PERSONA_NAMES, Profiles

GENDERS = ("female", "male", "non-binary", "")  # "" is not given
GENDER_WEIGHTS = (0.51, 0.46, 0.02, 0.01)
MEAN_AGE = {"Loyal Buyers": 42.0, "New Visitors": 31.0}
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class People:
    """One row per profile; text fields are "" where a profile has none."""

    customer_id: list[str]  # "" for visitors who never sign up
    email: list[str]  # canonical: lower case, no spaces
    email_on_file: list[str]  # as spelt in customers.csv
    email_on_newsletter: list[str]  # as typed into the newsletter form
    first_name: list[str]
    last_name: list[str]
    gender: list[str]
    age: np.ndarray
    city: np.ndarray  # index into CITIES


@dataclass(frozen=True)
class Devices:
    """One row per browser; device i < profiles is profile i's first one."""

    owner: np.ndarray
    anonymous_id: list[str]
    ip: list[str]
    user_agent: np.ndarray  # index into USER_AGENTS
    identified_at: np.ndarray  # ms from which its events carry the userId; NEVER if not


def uuid4_strings(raw: np.ndarray) -> list[str]:
    """Format rows of 16 random bytes as version-4 UUIDs, all at once."""
    raw = raw.copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexes = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    digits = np.stack([hexes[raw >> 4], hexes[raw & 0x0F]], axis=2).reshape(len(raw), 32)
    dash = np.full((len(raw), 1), ord("-"), dtype=np.uint8)
    cut = [digits[:, :8], dash, digits[:, 8:12], dash, digits[:, 12:16], dash, digits[:, 16:20], dash, digits[:, 20:]]
    return np.ascontiguousarray(np.concatenate(cut, axis=1)).view("S36").ravel().astype("U36").tolist()


def random_uuids(rng: np.random.Generator, n: int) -> list[str]:
    return uuid4_strings(rng.integers(0, 256, size=(n, 16), dtype=np.uint8))


def make_people(rng: np.random.Generator, profiles: Profiles, signed_up_at: np.ndarray) -> People:
    """Draw everyone's demographics; number customers by ``signed_up_at`` (ms, NEVER if not)."""
    n = profiles.size
    gender_pick = rng.choice(len(GENDERS), size=n, p=GENDER_WEIGHTS)
    female, male, other = words.FIRST_NAMES_FEMALE, words.FIRST_NAMES_MALE, words.FIRST_NAMES_OTHER
    pools = (female, male, other + female[:8] + male[:8], other + female[:8] + male[:8])
    name_pick = rng.random(n)
    first = [pools[g][int(u * len(pools[g]))] for g, u in zip(gender_pick, name_pick)]
    last = [words.LAST_NAMES[i] for i in rng.integers(0, len(words.LAST_NAMES), n)]
    mean_age = np.array([MEAN_AGE.get(name, 37.0) for name in PERSONA_NAMES])[profiles.persona]
    age = np.clip(np.rint(rng.normal(mean_age, 11.0)), 18, 79).astype(np.int64)
    city = rng.choice(len(words.CITIES), size=n, p=words.CITY_WEIGHTS / words.CITY_WEIGHTS.sum())

    known = np.flatnonzero(signed_up_at < NEVER)
    number = np.zeros(n, dtype=np.int64)
    number[known[np.argsort(signed_up_at[known], kind="stable")]] = np.arange(1, len(known) + 1)
    customer_id = [f"cus_{1_000_000 + k}" if k else "" for k in number]

    pattern = rng.integers(0, 3, n)
    domain = rng.choice(len(words.EMAIL_DOMAINS), size=n, p=[0.36, 0.12, 0.16, 0.12, 0.08, 0.08, 0.08])
    email = [
        canonical_email(first[i], last[i], int(pattern[i]), int(number[i]), words.EMAIL_DOMAINS[domain[i]])
        if number[i] else ""
        for i in range(n)
    ]  # fmt: skip
    on_file = respell(rng, email, share=0.2)
    on_newsletter = respell(rng, email, share=1.0)
    gender = [GENDERS[g] for g in gender_pick]
    return People(customer_id, email, on_file, on_newsletter, first, last, gender, age, city)


def canonical_email(first: str, last: str, pattern: int, number: int, domain: str) -> str:
    first_part, last_part = (re.sub(r"[^a-z]", "", s.lower()) for s in (first, last))
    local = (f"{first_part}.{last_part}", f"{first_part}{last_part[:1]}", f"{first_part[:1]}{last_part}")[pattern]
    return f"{local}{number}@{domain}"


def respell(rng: np.random.Generator, emails: list[str], share: float) -> list[str]:
    """The same addresses with other capitals or stray spaces, for ``share`` of them."""
    changed = rng.random(len(emails)) < share
    how = rng.integers(0, 4, len(emails))
    out = []
    for email, change, kind in zip(emails, changed, how):
        if not (email and change):
            out.append(email)
        elif kind == 0:
            local, _, domain = email.partition("@")
            out.append(f"{'.'.join(p.capitalize() for p in local.split('.'))}@{domain.capitalize()}")
        elif kind == 1:
            out.append(email.upper())
        elif kind == 2:
            out.append(f" {email}")
        else:
            out.append(f"{email.capitalize()}  ")
    return out


def make_devices(rng: np.random.Generator, profiles: Profiles, identified_at: np.ndarray) -> Devices:
    """Browsers: each profile's first, then the second devices, then newsletter ones."""
    n = profiles.size
    owner = np.concatenate([np.arange(n), np.flatnonzero(profiles.second_device), np.flatnonzero(profiles.newsletter)])
    size = len(owner)
    octets = rng.integers(1, 255, size=(size, 4))
    octets[:, 0] = rng.choice(np.array([24, 31, 46, 62, 73, 81, 86, 92, 98, 109, 151, 176, 185, 203, 212]), size)
    ip = [f"{a}.{b}.{c}.{d}" for a, b, c, d in octets.tolist()]
    weights = words.USER_AGENT_WEIGHTS / words.USER_AGENT_WEIGHTS.sum()
    user_agent = rng.choice(len(words.USER_AGENTS), size, p=weights)
    return Devices(owner, random_uuids(rng, size), ip, user_agent, identified_at)

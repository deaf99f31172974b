"""Writes ``tests/data/brain_recall_set.json``: the labelled recall set of the brain.

60 fictional people with 5 personal facts each (300 facts, 16 kinds of fact, five
capsules by topic) and two paraphrased questions per fact that share (nearly) only
the person's name with it: "Priya Okafor cannot eat peanuts without a reaction." /
"Which food must Priya Okafor stay away from?". Every person has several facts, so
the name alone does not find the right one: the question's meaning has to.
Deterministic (seeded); run ``python bench/brain_recall_set.py`` to regenerate.
"""

from __future__ import annotations

import os
import sys

# ``python bench/...`` puts bench/ first on the path, where bench/math.py shadows math.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import json  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402

FIRST = [
    "Priya",
    "Tomasz",
    "Amara",
    "Lukas",
    "Mei",
    "Diego",
    "Ingrid",
    "Kwame",
    "Sofia",
    "Rafael",
    "Hana",
    "Oskar",
    "Leila",
    "Mateo",
    "Yuki",
    "Nadia",
    "Emeka",
    "Clara",
    "Arjun",
    "Freya",
    "Tariq",
    "Elena",
    "Jonas",
    "Zainab",
    "Marco",
    "Astrid",
    "Kenji",
    "Lucia",
    "Idris",
    "Maren",
]
LAST = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castellanos",
    "Nakamura",
    "Petrov",
    "Adeyemi",
    "Kowalski",
    "Haddad",
    "Jensen",
    "Ferreira",
    "Tanaka",
    "Novak",
    "Mensah",
    "Varga",
    "Quinn",
    "Rossi",
    "Takahashi",
    "Oyelaran",
    "Bergstrom",
]

# kind: (capsule, values, fact templates, question templates)
KINDS: dict[str, tuple[str, list[str], list[str], list[str]]] = {
    "allergy": (
        "health",
        ["peanuts", "shellfish", "penicillin", "bee stings", "gluten"],
        ["{p} cannot eat {v} without a bad reaction.", "{p} is allergic to {v}."],
        [
            "Which food or substance must {p} stay away from?",
            "What triggers an immune response in {p}?",
        ],
    ),
    "fear": (
        "health",
        ["heights", "deep water", "spiders", "thunderstorms", "crowded lifts"],
        ["{p} is terrified of {v}.", "{p} panics around {v}."],
        ["What frightens {p} the most?", "Which phobia does {p} live with?"],
    ),
    "medication": (
        "health",
        ["insulin", "an inhaler", "blood thinners", "thyroid pills"],
        ["{p} takes {v} every day.", "{p} depends on {v}."],
        ["Which treatment does {p} need daily?", "What does {p}'s doctor prescribe?"],
    ),
    "employer": (
        "work",
        ["a shipping firm", "the city hospital", "a game studio", "a bank", "a solar startup"],
        ["{p} works for {v}.", "{p} has a job at {v}."],
        ["Where is {p} employed?", "Which organisation pays {p}'s salary?"],
    ),
    "role": (
        "work",
        ["an accountant", "a nurse", "a welder", "a data engineer", "a pilot"],
        ["{p} is {v} by trade.", "{p} earns a living as {v}."],
        ["What is {p}'s profession?", "What does {p} do for work?"],
    ),
    "commute": (
        "work",
        ["by bicycle", "on the night bus", "by ferry", "on foot", "by tram"],
        ["{p} gets to the office {v}.", "{p} travels to work {v}."],
        [
            "How does {p} reach their workplace each morning?",
            "What is {p}'s daily journey to the job like?",
        ],
    ),
    "pet": (
        "home",
        ["a grey parrot", "two cats", "a beagle", "a tortoise", "goldfish"],
        ["{p} keeps {v} at home.", "{p} lives with {v}."],
        ["Which animal shares {p}'s flat?", "What kind of companion animal does {p} own?"],
    ),
    "home": (
        "home",
        ["a houseboat", "a farmhouse", "a top-floor studio", "a caravan", "a terraced cottage"],
        ["{p} lives in {v}.", "{p} rents {v}."],
        ["What sort of dwelling does {p} occupy?", "Where does {p} sleep at night?"],
    ),
    "sibling": (
        "home",
        ["three sisters", "a twin brother", "no siblings", "two stepbrothers"],
        ["{p} grew up with {v}.", "{p} has {v}."],
        [
            "How big is {p}'s family of brothers and sisters?",
            "Who did {p} share a childhood home with?",
        ],
    ),
    "sport": (
        "leisure",
        ["rock climbing", "water polo", "fencing", "curling", "marathon running"],
        ["{p} spends weekends {v}.", "{p} competes in {v}."],
        ["Which athletic activity does {p} practise?", "How does {p} keep fit on Saturdays?"],
    ),
    "instrument": (
        "leisure",
        ["the cello", "the trumpet", "the harp", "drums", "the accordion"],
        ["{p} plays {v}.", "{p} practises {v} every evening."],
        ["What music does {p} make?", "Which instrument can {p} perform on?"],
    ),
    "cuisine": (
        "leisure",
        ["Ethiopian food", "sushi", "Mexican tacos", "Georgian dumplings"],
        ["{p}'s favourite dinner is {v}.", "{p} always orders {v}."],
        ["What would {p} choose at a restaurant?", "Which dishes does {p} love eating?"],
    ),
    "language": (
        "travel",
        ["Portuguese", "Swahili", "Finnish", "Korean", "Welsh"],
        ["{p} speaks {v} fluently.", "{p} learned {v} as a child."],
        ["Which tongue can {p} converse in?", "What foreign words does {p} know well?"],
    ),
    "holiday": (
        "travel",
        ["Iceland", "Patagonia", "Kyoto", "the Scottish isles", "Morocco"],
        ["{p} spent last summer in {v}.", "{p} is planning a trip to {v}."],
        ["Where does {p} go on vacation?", "Which destination is on {p}'s travel list?"],
    ),
    "vehicle": (
        "travel",
        ["a vintage motorbike", "an electric van", "a red convertible", "a camper van"],
        ["{p} drives {v}.", "{p} bought {v} last year."],
        ["What does {p} have parked outside?", "Which car or bike belongs to {p}?"],
    ),
    "birthday": (
        "home",
        ["in January", "on New Year's Eve", "in midsummer", "in early autumn"],
        ["{p} was born {v}.", "{p} celebrates turning a year older {v}."],
        ["When is {p}'s birthday party?", "At what time of year did {p} arrive into the world?"],
    ),
}


def build(seed: int = 7, people: int = 60, facts_each: int = 5) -> dict[str, object]:
    rng = random.Random(seed)
    names = rng.sample([f"{f} {s}" for f in FIRST for s in LAST], people)
    facts = []
    for person_index, name in enumerate(names):
        for kind in rng.sample(sorted(KINDS), facts_each):
            capsule, values, fact_t, question_t = KINDS[kind]
            value = rng.choice(values)
            questions = [q.format(p=name) for q in question_t]
            rng.shuffle(questions)
            facts.append(
                {
                    "id": len(facts),
                    "person": person_index,
                    "kind": kind,
                    "capsule": capsule,
                    "text": rng.choice(fact_t).format(p=name, v=value),
                    "questions": questions,
                }
            )
    return {
        "about": "Labelled recall set for SomaBrain (bench/brain.py): facts and paraphrased "
        "questions sharing little more than a name; generated by "
        "bench/brain_recall_set.py",
        "facts": facts,
    }


def main() -> None:
    out = Path(__file__).resolve().parents[1] / "tests" / "data" / "brain_recall_set.json"
    out.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
    print(out)


if __name__ == "__main__":
    main()

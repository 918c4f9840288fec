#!/usr/bin/env python3
"""Writes recipes/data/recbase-tiny/: three small synthetic domain folders (items.jsonl,
sequences.jsonl) for the RecBase quickstart, which must run without ../shared and without
downloads.

The data has the structure RecBase's zero-shot transfer relies on: every domain draws its item
titles from the same themes (shared words across domains), and each user mostly stays inside
one or two themes, so "the next item resembles the history" holds in every domain, and a
decoder pretrained on two domains can rank the third better than random. Deterministic
(seeded); re-running rewrites the same bytes.

    python3 scripts/make_recbase_tiny.py
"""

import json
import os
import random

THEMES = {
    "space": ["galaxy", "orbit", "rocket", "star", "planet", "nebula", "astronaut", "comet"],
    "mystery": ["detective", "murder", "clue", "secret", "shadow", "alibi", "suspect", "case"],
    "romance": ["love", "heart", "wedding", "kiss", "summer", "letters", "promise", "dance"],
    "war": ["battle", "soldier", "empire", "siege", "army", "general", "front", "victory"],
    "cooking": ["kitchen", "recipe", "bread", "spice", "chef", "garden", "feast", "soup"],
    "sports": ["goal", "league", "champion", "race", "coach", "stadium", "team", "match"],
}
DOMAINS = {
    "books": ("novel", "A {a} novel about the {b} and the {c}."),
    "movies": ("film", "A {a} film: {b}, {c} and more."),
    "games": ("game", "Play through the {a} {b} in this {c} adventure."),
}
ITEMS_PER_THEME = 14
USERS = 120
OUT = os.path.join(os.path.dirname(__file__), "..", "recipes", "data", "recbase-tiny")


def make_domain(name, kind, template, rng):
    items, by_theme = [], {}
    for theme, words in THEMES.items():
        for k in range(ITEMS_PER_THEME):
            a, b, c = rng.sample(words, 3)
            item_id = f"{name[0]}{len(items):04d}"
            items.append({
                "item_id": item_id,
                "title": f"The {a.title()} {b.title()} {kind} {k + 1}",
                "description": template.format(a=a, b=b, c=c),
                "categories": f"{kind}, {theme}",
            })
            by_theme.setdefault(theme, []).append(item_id)
    sequences = []
    themes = list(THEMES)
    for u in range(USERS):
        favourite, second = rng.sample(themes, 2)
        length = rng.randint(5, 16)
        history = []
        for _ in range(length):
            r = rng.random()
            theme = favourite if r < 0.75 else second if r < 0.92 else rng.choice(themes)
            choices = [i for i in by_theme[theme] if i not in history]
            if choices:
                history.append(rng.choice(choices))
        sequences.append({"user_id": f"{name}-u{u:03d}", "item_ids": history})
    return items, sequences


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    rng = random.Random(7)
    for name, (kind, template) in DOMAINS.items():
        items, sequences = make_domain(name, kind, template, rng)
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        write_jsonl(os.path.join(folder, "items.jsonl"), items)
        write_jsonl(os.path.join(folder, "sequences.jsonl"), sequences)
        print(f"{folder}: {len(items)} items, {len(sequences)} users")


if __name__ == "__main__":
    main()

"""Deterministic, realistic sample items (wire form) for the demo, tests and benchmarks.

``orders`` items are 400-600 bytes of DynamoDB JSON: string keys, strings, integers,
decimals, a bool, a small map, a list, a string set, and a sparse attribute.
``users`` items are user profiles for the demo's story (``last_update`` dates, nested
preferences, tags, exact decimal balances).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from schemas.dynamo_json import normalize_number

_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "amber",
    "basalt",
    "cedar",
    "dune",
    "ember",
    "fjord",
    "glacier",
    "harbor",
    "island",
    "jade",
    "kelp",
    "lagoon",
]
_STATUS = ("PENDING", "PAID", "SHIPPED", "DELIVERED", "RETURNED")
_TAGS = ("gift", "express", "fragile", "bulk", "promo", "vip", "eco", "intl")
_FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Barbara",
    "Ken",
    "Margaret",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Sophie",
    "Tim",
    "Hedy",
    "John",
    "Katherine",
    "Niklaus",
    "Shafi",
    "Leslie",
]
_LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Wilson",
    "Berners-Lee",
    "Lamarr",
    "Backus",
    "Johnson",
    "Wirth",
    "Goldwasser",
    "Lamport",
]


def order(i: int, rng: random.Random) -> dict[str, Any]:
    customer = i // 10
    day = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
    item: dict[str, Any] = {
        "pk": {"S": f"CUST#{customer:08d}"},
        "sk": {"S": f"ORDER#{day.isoformat()}#{i:010d}"},
        "name": {"S": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"},
        "email": {"S": f"user{customer}@example.com"},
        "status": {"S": rng.choice(_STATUS)},
        "description": {"S": " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 22)))},
        "currency": {"S": rng.choice(("EUR", "USD", "GBP"))},
        "qty": {"N": str(rng.randint(1, 50))},
        "created_at": {"N": str(1_700_000_000 + rng.randrange(60_000_000))},
        "price": {"N": f"{rng.randint(100, 500_000) / 100:.2f}"},
        "discount": {"N": f"{rng.randint(0, 300) / 1000:.3f}"},
        "active": {"BOOL": rng.random() < 0.8},
        "meta": {
            "M": {
                "src": {"S": rng.choice(("web", "app", "api"))},
                "ver": {"N": str(rng.randint(1, 9))},
                "flag": {"BOOL": rng.random() < 0.5},
            }
        },
        "skus": {
            "L": [{"S": f"SKU-{rng.randrange(100000):05d}"} for _ in range(rng.randint(0, 5))]
        },
        "tags": {"SS": rng.sample(_TAGS, rng.randint(1, 4))},
    }
    if rng.random() < 0.2:
        item["coupon"] = {"S": f"SAVE{rng.randint(5, 50)}"}
    return item


def as_dynamodb_returns(item: dict[str, Any]) -> dict[str, Any]:
    """The item with every number as DynamoDB returns it (``"4282.30"`` -> ``"4282.3"``,
    ``"0.040"`` -> ``"0.04"``: it trims leading and trailing zeros). The generators above
    write some numbers with trailing zeros, as a client may send them; a table read from
    DynamoDB, or its native export, never holds those texts."""
    def fix(av: dict[str, Any]) -> dict[str, Any]:
        tag, inner = next(iter(av.items()))
        if tag == "N":
            return {"N": normalize_number(inner)}
        if tag == "NS":
            return {"NS": [normalize_number(n) for n in inner]}
        if tag == "M":
            return {"M": {k: fix(v) for k, v in inner.items()}}
        if tag == "L":
            return {"L": [fix(v) for v in inner]}
        return av
    return {k: fix(v) for k, v in item.items()}


def orders(count: int, seed: int = 42, start: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed * 1_000_003 + start)
    for i in range(start, start + count):
        yield order(i, rng)


def user(i: int, rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    updated = date(2011, 1, 1) + timedelta(days=rng.randrange(365 * 6))
    cents = rng.randint(-50_000, 5_000_000)
    return {
        "user_id": {"S": f"user-{i:06d}"},
        "name": {"S": f"{first} {last}"},
        "email": {"S": f"{first.lower()}.{last.lower()}{i}@example.com"},
        "last_update": {"S": updated.isoformat()},
        "balance": {
            "N": f"{cents // 100}.{abs(cents) % 100:02d}"
            if cents >= 0
            else f"-{abs(cents) // 100}.{abs(cents) % 100:02d}"
        },
        "plan": {"S": rng.choice(("free", "pro", "enterprise"))},
        "logins": {"N": str(rng.randint(0, 5000))},
        "tags": {"SS": rng.sample(_TAGS, rng.randint(1, 3))},
        "preferences": {
            "M": {
                "theme": {"S": rng.choice(("dark", "light"))},
                "newsletter": {"BOOL": rng.random() < 0.4},
                "languages": {
                    "L": [
                        {"S": lang}
                        for lang in rng.sample(("en", "de", "fr", "es", "ja"), rng.randint(1, 3))
                    ]
                },
            }
        },
    }


def users(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        yield user(i, rng)

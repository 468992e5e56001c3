"""Names derived from model classes: ``ProductVariant`` -> ``product_variant(s)``."""

from __future__ import annotations

import re

_IRREGULAR = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "mouse": "mice",
    "goose": "geese",
    "foot": "feet",
    "tooth": "teeth",
    "datum": "data",
    "criterion": "criteria",
    "analysis": "analyses",
}
_UNCOUNTABLE = frozenset({"information", "equipment", "metadata", "news", "series", "species"})
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``ProductVariant`` -> ``product_variant``; ``HTTPClient`` -> ``http_client``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def pluralize(singular: str) -> str:
    """English plural of a snake_case name; only the last word changes.

    >>> pluralize("category"), pluralize("product_variant"), pluralize("person")
    ('categories', 'product_variants', 'people')
    """
    head, sep, word = singular.rpartition("_")
    return f"{head}{sep}{_plural_word(word)}"


def _plural_word(word: str) -> str:
    if word in _UNCOUNTABLE:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"

"""Friendly default run names ("brave-owl-417"), as MLflow generates them."""

from __future__ import annotations

import secrets

_ADJECTIVES = (
    "amber agile bold brave bright calm clever crisp daring eager fast fierce gentle glad golden "
    "grand honest humble keen kind lively loyal lucky merry mighty neat noble polite proud quick "
    "quiet rapid sharp shy silent sleek smart snappy steady sunny swift tidy vivid warm wise witty"
).split()
_NOUNS = (
    "ant bass bat bear bee bird boar cat cod colt crab crow deer dog dove duck eel elk finch fish "
    "fox frog gnat goat hare hawk hen horse jay kite lamb lark lion lynx mole moth mouse newt owl "
    "ox panda pig ram ray seal shark slug snail swan toad trout vole wasp whale wolf worm wren yak"
).split()


def generate_run_name() -> str:
    adjective, noun = secrets.choice(_ADJECTIVES), secrets.choice(_NOUNS)
    return f"{adjective}-{noun}-{secrets.randbelow(1000):03d}"

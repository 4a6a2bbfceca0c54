"""Find the test users' personnummer in log files (DESIGN.md §7: never in a log in clear).

The numbers are the test users' (simulators/demo_users.yaml, the demo HSA directory, DOMAIN.md
§6), each looked for as 12 digits and as 10, with and without the hyphen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from satosa_efos import simulators

#: DOMAIN.md §6 (the last one a samordningsnummer).
DOMAIN_NUMBERS = ("195006262546", "197309069289", "198906059483", "191212121212", "197010632391")
SIMULATORS = Path(simulators.__file__).parent


def test_numbers() -> tuple[str, ...]:
    users = yaml.safe_load((SIMULATORS / "demo_users.yaml").read_text())["users"]
    numbers = {n for u in users for n in u["attributes"].get("personalIdentityNumber", [])}
    ldif = (SIMULATORS / "hsa_directory.ldif").read_text()
    numbers |= set(re.findall(r"^personalIdentityNumber: (\d{12})$", ldif, re.MULTILINE))
    return tuple(sorted(numbers | set(DOMAIN_NUMBERS)))


test_numbers.__test__ = False  # a helper, not a test


def spellings(number: str) -> tuple[str, ...]:
    """``195006262546``, ``19500626-2546``, ``5006262546``, ``500626-2546``."""
    return number, f"{number[:8]}-{number[8:]}", number[2:], f"{number[2:8]}-{number[8:]}"


def _pattern(numbers: Iterable[str]) -> re.Pattern[str]:
    words = sorted({s for n in numbers for s in spellings(n)}, key=len, reverse=True)
    # Not inside a longer run of digits (a 10-digit spelling inside some other number).
    return re.compile(r"(?<!\d)(?:" + "|".join(map(re.escape, words)) + r")(?!\d)")


def leaks(files: Iterable[Path], numbers: Iterable[str] | None = None) -> list[str]:
    """``file:line: number`` for every occurrence."""
    pattern = _pattern(numbers or test_numbers())
    found = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for match in pattern.finditer(line):
                found.append(f"{path}:{number}: {match.group(0)}")
    return found


def log_files(*roots: Path) -> list[Path]:
    return sorted(
        {p for root in roots if root.exists() for p in root.rglob("*.log") if p.is_file()}
    )

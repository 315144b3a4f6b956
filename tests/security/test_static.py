"""Static guarantees: every dependency pinned to one version."""

import re
from pathlib import Path

REQUIREMENTS = Path(__file__).parents[2] / "requirements"
PINNED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.!+-]+")


def requirement_lines() -> list[tuple[str, int, str]]:
    lines = []
    for file in sorted(REQUIREMENTS.glob("*.txt")):
        for number, line in enumerate(file.read_text().splitlines(), start=1):
            text = line.split(" #", 1)[0].strip()
            if text and not text.startswith("#"):
                lines.append((file.name, number, text))
    return lines


def test_every_requirement_is_pinned_to_one_version():
    unpinned = [
        f"{name}:{number} {text}"
        for name, number, text in requirement_lines()
        if not (PINNED.fullmatch(text) or re.fullmatch(r"-r [\w.-]+\.txt", text))
    ]

    assert requirement_lines()
    assert not unpinned, f"pin these with ==: {unpinned}"


def test_each_package_is_pinned_once_across_the_files():
    seen: dict[str, str] = {}
    clashes = []
    for name, number, text in requirement_lines():
        if text.startswith("-r "):
            continue
        package = re.split(r"[\[=]", text, maxsplit=1)[0].lower().replace("_", "-")
        if package in seen:
            clashes.append(f"{package}: {seen[package]} and {name}:{number}")
        seen[package] = f"{name}:{number}"

    assert not clashes

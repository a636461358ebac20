"""The runtime part of ``requirements.lock``: what the container image installs.

The lock pins runtime and dev dependencies together (``uv pip compile --extra dev``). This keeps
every package that ``[project].dependencies`` of ``pyproject.toml`` needs, directly or through
other packages, following the lock's ``# via`` annotations, with the lock's exact versions, and
drops the dev tools and whatever only they need. No resolver and no network: the image gets the
versions the tests ran with.

    python runtime_requirements.py requirements.lock pyproject.toml > runtime.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PROJECT_ROOT = "(pyproject.toml)"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"cannot read a package name in {requirement!r}")
    return normalize(match.group(1))


def parse_lock(text: str) -> dict[str, tuple[str, set[str]]]:
    """``{name: (pin line, what requires it)}``; the project itself is ``(pyproject.toml)``."""
    packages: dict[str, tuple[str, set[str]]] = {}
    current: str | None = None
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not raw[0].isspace() and not line.startswith("#"):
            current = requirement_name(line)
            packages[current] = (line, set())
            in_via = False
            continue
        if current is None or not line.startswith("#"):
            continue
        comment = line.lstrip("#").strip()
        if comment.startswith("via"):
            rest = comment.removeprefix("via").strip()
            in_via = not rest
            if rest:
                packages[current][1].add(_parent(rest))
        elif in_via and comment:
            packages[current][1].add(_parent(comment))
    return packages


def _parent(annotation: str) -> str:
    return PROJECT_ROOT if annotation.endswith(PROJECT_ROOT) else requirement_name(annotation)


def runtime_pins(lock: str, pyproject: str) -> list[str]:
    packages = parse_lock(lock)
    roots = {requirement_name(r) for r in tomllib.loads(pyproject)["project"]["dependencies"]}
    missing = sorted(roots - packages.keys())
    if missing:
        raise SystemExit(f"requirements.lock lacks {', '.join(missing)}: run `make lock`")
    keep = set(roots)
    changed = True
    while changed:
        changed = False
        for name, (_, parents) in packages.items():
            if name not in keep and parents & keep:
                keep.add(name)
                changed = True
    return [packages[name][0] for name in sorted(keep)]


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    lock, pyproject = (Path(a).read_text(encoding="utf-8") for a in argv[1:])
    sys.stdout.write("".join(f"{pin}\n" for pin in runtime_pins(lock, pyproject)))


if __name__ == "__main__":
    main(sys.argv)

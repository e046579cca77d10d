"""Print the fenced code block that follows `<!-- ci:NAME -->` in README.md, for `.ci/run` to run verbatim.

Standard library only (it runs before any environment exists). Exit 2 with a message naming the
marker when it is missing, duplicated or not followed by a ```bash block, so a README edit that
breaks CI says where.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MARKER = re.compile(r"^<!-- ci:([a-z-]+) -->\s*$")


def readme_blocks(text: str, source: str = "README.md") -> dict[str, str]:
    """Every marked block by name: the lines between the ```bash fence after the marker and its closing fence."""
    lines = text.splitlines()
    blocks: dict[str, str] = {}
    for i, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        name = match.group(1)
        if name in blocks:
            raise ValueError(f"{source}:{i + 1}: marker ci:{name} appears twice")
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```bash":
            raise ValueError(f"{source}:{i + 1}: marker ci:{name} must be followed directly by a ```bash fence")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{source}:{i + 2}: the ```bash block of ci:{name} is never closed")
        blocks[name] = "\n".join(lines[i + 2 : end]) + "\n"
    return blocks


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: readme_blocks.py README.md NAME", file=sys.stderr)
        return 2
    readme, name = Path(argv[0]), argv[1]
    try:
        blocks = readme_blocks(readme.read_text(encoding="utf-8"), str(readme))
    except ValueError as err:
        print(f"readme_blocks: {err}", file=sys.stderr)
        return 2
    if name not in blocks:
        known = ", ".join(blocks) or "none"
        print(f"readme_blocks: {readme} has no block marked <!-- ci:{name} --> (it has: {known})", file=sys.stderr)
        return 2
    sys.stdout.write(blocks[name])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

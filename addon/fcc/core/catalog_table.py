"""The README's provider table, generated from the catalog so the two cannot drift.

    python -m fcc.core.catalog_table           rewrite the block in README.md
    python -m fcc.core.catalog_table --check   exit 1 if README.md is out of date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from fcc.core.catalog import CATALOG
from fcc.core.profiles import Profile

START_MARKER = "<!-- catalog-table:start -->"
END_MARKER = "<!-- catalog-table:end -->"
# addon/fcc/core/catalog_table.py -> repository root.
DEFAULT_README = Path(__file__).resolve().parents[3] / "README.md"

_HEADER = ("id", "transport", "key variable", "base URL (local: default)", "notes")


def _cell(text: str) -> str:
    # A literal pipe would split the cell; a newline would end the row.
    return text.replace("|", "\\|").replace("\n", " ")


def _row(p: Profile) -> tuple[str, ...]:
    key = f"`{p.api_key_env}`" if p.api_key_env else "none (local)"
    return (f"`{p.id}`", p.transport, key, f"`{p.base_url}`", _cell(p.notes))


def render_table(catalog: Mapping[str, Profile]) -> str:
    """A Markdown table of the catalog, one row per profile in catalog order."""
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "|".join(" --- " for _ in _HEADER) + "|"]
    lines += ["| " + " | ".join(_row(p)) + " |" for p in catalog.values()]
    return "\n".join(lines) + "\n"


def replace_block(readme: str, table: str) -> str:
    """README text with everything between the markers replaced by `table`."""
    start = readme.find(START_MARKER)
    end = readme.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"README has no {START_MARKER} ... {END_MARKER} block")
    head = readme[: start + len(START_MARKER)]
    return f"{head}\n{table}{readme[end:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fcc.core.catalog_table", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README block is out of date")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README, help="README path (default: the repo's)")
    args = parser.parse_args(argv)

    current = args.readme.read_text(encoding="utf-8")
    try:
        wanted = replace_block(current, render_table(CATALOG))
    except ValueError as error:
        print(f"{args.readme}: {error}", file=sys.stderr)
        return 2
    if args.check:
        if wanted != current:
            print(f"{args.readme}: provider table is out of date; run python -m fcc.core.catalog_table", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        args.readme.write_text(wanted, encoding="utf-8")
        print(f"{args.readme}: provider table updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

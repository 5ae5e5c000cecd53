"""Size budget of the website widget: `python -m connectors.widget_size`.

Prints the gzipped size of what a page downloads for the widget (widget.js + widget.css)
and exits 1 when it is over the budget (50 kB): the widget sits on every page of a
practice's site, often on patients' phones.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
WIDGET_FILES = ("widget.js", "widget.css")
BUDGET_BYTES = 50 * 1024


def gzipped_sizes() -> dict:
    # Level 6 is what web servers and CDNs typically use, not the best case of level 9.
    return {name: len(gzip.compress((STATIC / name).read_bytes(), compresslevel=6)) for name in WIDGET_FILES}


def main() -> int:
    sizes = gzipped_sizes()
    total = sum(sizes.values())
    for name, size in sizes.items():
        print(f"{name}: {size:,} bytes gzipped")
    verdict = "within" if total <= BUDGET_BYTES else "OVER"
    print(f"widget total: {total:,} bytes gzipped ({total / 1024:.1f} kB), {verdict} the {BUDGET_BYTES // 1024} kB budget")
    return 0 if total <= BUDGET_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())

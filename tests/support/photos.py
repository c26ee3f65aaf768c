"""Real face photos for tests and benchmarks, fetched from PyPI once and cached outside git.

The photos are not ours to commit, so they come from packages that ship them:

* ``test_photo(name)``: ``tests/test_images/`` of the ``face_recognition==1.3.0``
  sdist (obama.jpg, obama2.jpg, obama3.jpg, obama_partial_face.jpg,
  obama_partial_face2.jpg, 32bit.png - obama2 with alpha -, biden.jpg);
* ``extra_photo(name)``: a few more labelled portraits for the benchmark's
  gender check: ``astronaut.png`` (Eileen Collins, female) and ``camera.png``
  (the cameraman, male, greyscale) from the scikit-image wheel, ``hopper.png``
  (Grace Hopper, female, 128 px) from the Pillow sdist, ``t1.jpg`` (the six
  Friends actors: three women, three men) and ``Tom_Hanks_54745.png`` (male,
  112 px aligned crop) from the insightface sdist.

The cache is ``$WORKBENCH_CACHE`` or ``~/.cache/workbench``. Several test
processes may ask at once (pytest-xdist, parallel CI jobs): a file lock
serialises the download, and each set is extracted into a temporary folder
renamed into place, so a reader never sees a half-extracted set.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

FACE_RECOGNITION_SDIST = "face_recognition==1.3.0"
SCIKIT_IMAGE_WHEEL = "scikit-image==0.26.0"
PILLOW_SDIST = "pillow==12.3.0"
INSIGHTFACE_SDIST = "insightface==2.1"

# name -> (requirement, binary wheel wanted, path of the file inside the archive)
EXTRA_PHOTOS: dict[str, tuple[str, bool, str]] = {
    "astronaut.png": (SCIKIT_IMAGE_WHEEL, True, "skimage/data/astronaut.png"),
    "camera.png": (SCIKIT_IMAGE_WHEEL, True, "skimage/data/camera.png"),
    "hopper.png": (PILLOW_SDIST, False, "pillow-12.3.0/Tests/images/hopper.png"),
    "t1.jpg": (INSIGHTFACE_SDIST, False, "insightface-2.1/insightface/data/images/t1.jpg"),
    "Tom_Hanks_54745.png": (INSIGHTFACE_SDIST, False, "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png"),
}

# Labels for the benchmark's gender check (public figures, well documented).
PHOTO_GENDER: dict[str, str] = {
    "obama.jpg": "male",
    "obama2.jpg": "male",
    "obama3.jpg": "male",
    "obama_partial_face.jpg": "male",
    "obama_partial_face2.jpg": "male",
    "32bit.png": "male",
    "biden.jpg": "male",
    "astronaut.png": "female",
    "camera.png": "male",
    "hopper.png": "female",
    "Tom_Hanks_54745.png": "male",
}

# Group photos: (left edge, right edge, gender) of each person's face centre, in pixels.
GROUP_GENDER: dict[str, list[tuple[int, int, str]]] = {
    # Left to right: Aniston, Cox, Schwimmer, Perry, LeBlanc, Kudrow.
    "t1.jpg": [
        (0, 220, "female"),
        (220, 430, "female"),
        (430, 650, "male"),
        (650, 880, "male"),
        (880, 1080, "male"),
        (1080, 1280, "female"),
    ],
}


def cache_dir() -> Path:
    """Return the cache root: $WORKBENCH_CACHE, else ~/.cache/workbench."""
    root = os.environ.get("WORKBENCH_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "workbench"


def _pip_download(requirement: str, binary: bool, into: Path) -> Path:
    """Download one distribution (no dependencies) with this interpreter's pip."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "--only-binary" if binary else "--no-binary",
        ":all:",
        requirement,
        "-d",
        str(into),
    ]
    subprocess.run(command, check=True, timeout=600)
    archives = [path for path in into.iterdir() if path.is_file()]
    if len(archives) != 1:
        raise RuntimeError(f"pip download {requirement} left {len(archives)} files in {into}")
    return archives[0]


def _extract(archive: Path, wanted: Callable[[str], bool], into: Path) -> None:
    """Copy the archive's regular files whose path passes ``wanted``, flattened into ``into``."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            for member_name in wheel.namelist():
                if wanted(member_name) and not member_name.endswith("/"):
                    (into / Path(member_name).name).write_bytes(wheel.read(member_name))
        return
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            # Regular files only, and only their base name: no links, no "../".
            if member.isfile() and wanted(member.name):
                source = sdist.extractfile(member)
                assert source is not None
                with source, open(into / Path(member.name).name, "wb") as target:
                    shutil.copyfileobj(source, target)


def _ensure_set(folder_name: str, requirement: str, binary: bool, wanted: Callable[[str], bool]) -> Path:
    """Return the cache folder of one photo set, fetching and extracting it once."""
    root = cache_dir()
    final = root / folder_name
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{folder_name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if final.is_dir():  # another process finished while we waited
            return final
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{folder_name}.") as work:
            work_path = Path(work)
            downloads = work_path / "download"
            staged = work_path / "staged"
            downloads.mkdir()
            staged.mkdir()
            archive = _pip_download(requirement, binary, downloads)
            _extract(archive, wanted, staged)
            if not any(staged.iterdir()):
                raise RuntimeError(f"{archive.name} holds none of the wanted photos")
            os.rename(staged, final)
    return final


def test_photo(name: str) -> Path:
    """Return the path of ``name`` from face_recognition 1.3.0's tests/test_images/.

    Downloads the sdist into the cache on first use. Raises FileNotFoundError
    naming the available photos when ``name`` is not one of them.
    """
    folder = _ensure_set(
        "face_recognition-1.3.0-test_images",
        FACE_RECOGNITION_SDIST,
        False,
        lambda member: "/tests/test_images/" in member,
    )
    path = folder / name
    if not path.is_file():
        available = ", ".join(sorted(item.name for item in folder.iterdir()))
        raise FileNotFoundError(f"no test photo {name!r}; available: {available}")
    return path


# pytest would otherwise collect the imported helper as a test (its name starts with test_).
test_photo.__test__ = False  # type: ignore[attr-defined]


def extra_photo(name: str) -> Path:
    """Return the path of one of :data:`EXTRA_PHOTOS`, fetched from its package once."""
    if name not in EXTRA_PHOTOS:
        raise FileNotFoundError(f"no extra photo {name!r}; available: {', '.join(EXTRA_PHOTOS)}")
    requirement, binary, member_path = EXTRA_PHOTOS[name]
    members = {path for req, _, path in EXTRA_PHOTOS.values() if req == requirement}
    folder_name = requirement.replace("==", "-") + "-photos"
    folder = _ensure_set(folder_name, requirement, binary, lambda member: member in members)
    return folder / Path(member_path).name


_deepface_home: Path | None = None


def deepface_home() -> Path:
    """The one DEEPFACE_HOME of this test process, weights in place.

    DeepFace binds to one home per process, so every test (engine and app alike) uses this one:
    $DEEPFACE_HOME when set (`make test` sets it), else the test cache.
    """
    global _deepface_home
    if _deepface_home is None:
        from webapp.faces.weights import install_weights

        home = Path(os.environ.get("DEEPFACE_HOME") or cache_dir() / "deepface-home").resolve()
        install_weights(home)
        _deepface_home = home
    return _deepface_home

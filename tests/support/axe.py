"""axe-core for the accessibility tests: fetched from the npm registry once, cached outside git, run in Chromium.

`axe_script()` returns the path of `axe.min.js` of the pinned version, fetching it with `npm pack` into
``$WORKBENCH_CACHE`` (default ``~/.cache/workbench``) the first time; the tarball must match the pinned
integrity hash. `make axe` (a step of `make test`) runs ``python -m tests.support.axe`` to fetch it ahead.

`axe_problems(page)` runs axe on the page shown and returns its serious and critical violations, one line each.
The script is added with `context.add_init_script`, which Chromium runs outside the page's Content-Security-Policy,
so the pages are checked exactly as users get them, CSP enforced.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from playwright.sync_api import Page

from tests.support.photos import cache_dir

AXE_CORE_VERSION = "4.11.0"
# `npm view axe-core@4.11.0 dist.integrity`: a tarball that differs from what was reviewed is refused.
AXE_CORE_INTEGRITY = "sha512-ilYanEU8vxxBexpJd8cWM4ElSQq4QctCLKih0TSfjIfCQTeyH/6zVrmIJfLPrKTKJRbiG+cfnZbQIjAlJmF1jQ=="
FAILING_IMPACTS = ("serious", "critical")


def axe_script() -> Path:
    """Path of the pinned axe.min.js, fetched with `npm pack` on first use (a file lock serialises processes)."""
    final = cache_dir() / f"axe-core-{AXE_CORE_VERSION}" / "axe.min.js"
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_file():  # another process fetched it while we waited
            return final
        if not shutil.which("npm"):
            raise RuntimeError(
                "npm is needed once to fetch axe-core for the accessibility tests: `make axe` "
                "installs Debian's npm and fetches it"
            )
        with tempfile.TemporaryDirectory(dir=final.parent) as work:
            subprocess.run(
                ["npm", "pack", "--silent", f"axe-core@{AXE_CORE_VERSION}"],
                cwd=work,
                check=True,
                timeout=300,
                stdout=subprocess.DEVNULL,
            )
            tarball = Path(work) / f"axe-core-{AXE_CORE_VERSION}.tgz"
            integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
            if integrity != AXE_CORE_INTEGRITY:
                raise RuntimeError(
                    f"axe-core {AXE_CORE_VERSION} from the registry has integrity {integrity}, "
                    f"not the pinned {AXE_CORE_INTEGRITY}"
                )
            with tarfile.open(tarball) as archive:
                member = archive.extractfile("package/axe.min.js")
                assert member is not None
                staged = Path(work) / "axe.min.js"
                staged.write_bytes(member.read())
            os.rename(staged, final)
    return final


def axe_problems(page: Page, rules: list[str] | None = None) -> list[str]:
    """Serious and critical axe violations of the page shown (all rules, or only `rules`), one line per element."""
    results = page.evaluate(
        """async (rules) => {
            if (!window.axe) throw new Error("axe-core is not loaded in this page");
            const options = {resultTypes: ["violations"]};
            if (rules) options.runOnly = {type: "rule", values: rules};
            const results = await window.axe.run(document, options);
            return results.violations.map(violation => ({
                id: violation.id, impact: violation.impact, help: violation.help,
                nodes: violation.nodes.map(node => node.target.join(" ") + " :: " + node.failureSummary)}));
        }""",
        rules,
    )
    return [
        f"[{violation['impact']}] {violation['id']} ({violation['help']}): {node}"
        for violation in results
        if violation["impact"] in FAILING_IMPACTS
        for node in violation["nodes"]
    ]


if __name__ == "__main__":
    print(axe_script())
    sys.exit(0)

"""Fetch the website's JavaScript assets from the npm registry, pinned, into book/_static/vendor/.

The book's website must work with no network (classrooms, slow or blocked CDNs), so the scripts that
Sphinx and myst-nb would otherwise load from public CDNs are served from the site itself:

* MathJax 3 (renders the equations; its CHTML fonts come along under es5/output/chtml/fonts/),
* RequireJS (the module loader the Jupyter widget manager needs),
* @jupyter-widgets/html-manager (renders the stored widget state of executed notebooks).

``PACKAGES`` below is the one place where their versions are pinned; each tarball is checked against
the sha512 integrity the npm registry published for it. The files land in book/_static/vendor/
(gitignored) together with VERSIONS.json; a later run with the same pins does nothing, so
``make book`` can call this every time. The book's Sphinx extension (book/_ext/course_site.py) calls
``ensure()`` too, so a plain ``jupyter-book build .`` fetches them as well.

Usage::

    python scripts/site_assets.py            # fetch what is missing or out of date
    python scripts/site_assets.py --check    # exit 1 (and say what) if anything is missing
    python scripts/site_assets.py --force    # fetch again even if up to date
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["PACKAGES", "VENDOR_DIR", "ensure", "missing", "vendor_dir"]

REPO = Path(__file__).resolve().parent.parent
VENDOR_DIR = REPO / "book" / "_static" / "vendor"

# name -> pinned version, the registry's sha512 integrity of its tarball, the folder under vendor/,
# and the files of the package to keep (glob patterns on paths inside the package).
PACKAGES: dict[str, dict] = {
    "mathjax": {
        "version": "3.2.2",
        "integrity": "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        "dest": "mathjax",
        "keep": ["LICENSE", "es5/*"],
    },
    "requirejs": {
        "version": "2.3.8",
        "integrity": "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
        "dest": "requirejs",
        "keep": ["require.js"],
    },
    "@jupyter-widgets/html-manager": {
        "version": "1.0.15",
        "integrity": "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        "dest": "html-manager",
        "keep": ["dist/embed-amd.js", "dist/embed.js.LICENSE.txt", "dist/*.woff2", "dist/*.woff",
                 "dist/*.ttf", "dist/*.eot", "dist/*.svg"],
    },
}

# Files the book's configuration points at; ``missing()`` checks them.
REQUIRED = [
    "mathjax/es5/tex-mml-chtml.js",
    "mathjax/es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
    "requirejs/require.js",
    "html-manager/dist/embed-amd.js",
]
STAMP = "VERSIONS.json"


def vendor_dir(root: str | Path | None = None) -> Path:
    """The vendor folder of the book rooted at ``root`` (default: this repository)."""
    if root is None:
        return VENDOR_DIR
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"expected the book's root folder, got {str(root)!r} (not a folder)")
    return root / "book" / "_static" / "vendor"


def _pins() -> dict[str, dict[str, str]]:
    return {name: {"version": p["version"], "integrity": p["integrity"]} for name, p in PACKAGES.items()}


def missing(root: str | Path | None = None) -> list[str]:
    """What is absent or out of date in the vendor folder (empty list: everything is in place)."""
    dest = vendor_dir(root)
    problems = [f"{rel} is missing" for rel in REQUIRED if not (dest / rel).is_file()]
    stamp = dest / STAMP
    if not stamp.is_file():
        problems.append(f"{STAMP} is missing")
    else:
        try:
            recorded = json.loads(stamp.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            recorded = None
        if recorded != _pins():
            problems.append(f"{STAMP} does not match the pinned versions")
    return problems


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def _npm_pack(spec: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(
            "expected the `npm` command (Node.js) to fetch the website's pinned JavaScript assets "
            f"({spec}); it is not on PATH. Install Node.js/npm, or copy a complete "
            "book/_static/vendor/ from another checkout."
        )
    proc = subprocess.run(
        [npm, "pack", spec, "--json", "--prefer-offline", "--pack-destination", str(workdir)],
        cwd=workdir, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`npm pack {spec}` failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    start = proc.stdout.find("[")
    try:
        info = json.loads(proc.stdout[start:])
        return workdir / info[0]["filename"]
    except (ValueError, KeyError, IndexError) as err:
        raise RuntimeError(f"could not read the output of `npm pack {spec}`: {proc.stdout!r}") from err


def _extract(tgz: Path, keep: list[str], dest: Path) -> int:
    """Extract the files of the package matching ``keep`` into ``dest``; return how many."""
    count = 0
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            name = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if ".." in Path(name).parts or not any(fnmatch.fnmatch(name, pat) for pat in keep):
                continue
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            count += 1
    return count


def ensure(root: str | Path | None = None, force: bool = False, quiet: bool = False) -> Path:
    """Make sure the pinned assets are in book/_static/vendor/; fetch them with npm if not.

    Returns the vendor folder. Raises FileNotFoundError when npm is needed and absent, RuntimeError
    when npm fails, ValueError when a tarball does not match its pinned integrity.
    """
    dest = vendor_dir(root)
    if not force and not missing(root):
        return dest
    say = (lambda *_: None) if quiet else (lambda msg: print(f"[site_assets] {msg}", file=sys.stderr))
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="vendor-", dir=dest.parent))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, pin in PACKAGES.items():
                spec = f"{name}@{pin['version']}"
                say(f"fetching {spec} from the npm registry")
                tgz = _npm_pack(spec, Path(tmp))
                got = _integrity(tgz)
                if got != pin["integrity"]:
                    raise ValueError(f"{spec}: expected integrity {pin['integrity']}, got {got}")
                n = _extract(tgz, pin["keep"], staging / pin["dest"])
                if n == 0:
                    raise ValueError(f"{spec}: expected files matching {pin['keep']}, found none")
        (staging / STAMP).write_text(json.dumps(_pins(), indent=2) + "\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    problems = missing(root)
    if problems:
        raise RuntimeError("vendor assets still incomplete after fetching: " + "; ".join(problems))
    say(f"assets ready in {dest.relative_to(dest.parent.parent.parent)}")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if anything is missing")
    parser.add_argument("--force", action="store_true", help="fetch again even if up to date")
    args = parser.parse_args(argv)
    if args.check:
        problems = missing()
        for p in problems:
            print(f"[site_assets] {p}", file=sys.stderr)
        return 1 if problems else 0
    ensure(force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())

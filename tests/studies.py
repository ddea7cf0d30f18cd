"""How tests run the tiny study: a copied checkout, a plain shell, a deps-only interpreter.

The study runs in a copy of the repository (so tests can edit its code) from a plain shell
(PATH=/usr/bin:/bin, no PYTHONPATH) with an interpreter that has the dependencies but not the
`abgd` package: the rules must find both the interpreter and the code themselves
(docs/environments.md).
"""

from __future__ import annotations

import importlib.util
import os
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = Path("tests") / "config" / "tiny.yaml"
PLAIN_ENV = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin"}


def snakemake(checkout: Path, workdir: Path, *args: str, python: Path | None = None,
              ) -> subprocess.CompletedProcess[str]:
    """Snakemake of `checkout` on `workdir`, started from a plain shell (no venv on PATH)."""
    command = [str(python), "-m", "snakemake"] if python else [str(BIN / "snakemake")]
    return subprocess.run(
        [*command, "--snakefile", str(checkout / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(checkout / CONFIG), "--cores", "2", *args],
        capture_output=True, text=True, env=PLAIN_ENV, cwd=workdir, check=False, timeout=3600,
    )


def copy_checkout(dest: Path) -> Path:
    """The repository's files (tracked and new, not ignored ones) copied to `dest`: as a clone
    looks, the way benchmarks/bench_demo.py copies it for the demo's timing."""
    return load_benchmark("bench_demo").copy_tracked(ROOT, dest)


def deps_only_python(folder: Path) -> Path:
    """A venv that sees this venv's packages (one .pth line) but cannot import `abgd`.

    A path line in a .pth file adds the directory to sys.path without processing the .pth files
    inside it, so the editable install's own .pth (which makes `abgd` importable) stays inert.
    """
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(folder)],
                   check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def load_benchmark(name: str):
    """A script of benchmarks/ imported as a module (it is not a package), for its functions."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

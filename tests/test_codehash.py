"""The code hash of a step follows its code and its abgd imports, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from abgd.codehash import closure, code_hash

ROOT = Path(__file__).resolve().parents[1]


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for name, text in {"abgd/__init__.py": "", **files}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


FILES = {
    "abgd/step.py": (
        '"""A step."""\nfrom abgd.lib import helper\n\n\ndef main():\n    return helper()\n'
    ),
    "abgd/lib.py": "import numpy\n\nfrom . import deep\n\n\ndef helper():\n    return deep.VALUE\n",
    "abgd/deep.py": "VALUE = 1\n",
    "abgd/other.py": "OTHER = 2\n",
}


def test_closure_follows_absolute_relative_and_transitive_imports(tmp_path: Path) -> None:
    src = _package(tmp_path, FILES)
    assert closure(src, "abgd.step") == ["abgd", "abgd.deep", "abgd.lib", "abgd.step"]


@pytest.mark.parametrize(("name", "text", "changes"), [
    ("abgd/deep.py", "VALUE = 2\n", True),                       # imported through lib
    ("abgd/step.py", FILES["abgd/step.py"].replace("helper()\n", "helper() + 0\n"), True),
    ("abgd/__init__.py", "DEBUG = True\n", True),               # the package runs first
    ("abgd/other.py", "OTHER = 3\n", False),                     # not imported by the step
    ("abgd/deep.py", "# a comment\nVALUE = 1  # one\n\n", False),
    ("abgd/step.py", FILES["abgd/step.py"].replace("A step.", "Another docstring."), False),
    ("abgd/lib.py", FILES["abgd/lib.py"].replace("(\n", "(  \n"), False),  # formatting
])
def test_hash_changes_with_code_only(tmp_path: Path, name: str, text: str, changes: bool) -> None:
    src = _package(tmp_path, FILES)
    before = code_hash(src, "abgd.step")
    (src / name).write_text(text)
    assert (code_hash(src, "abgd.step") != before) is changes


def test_package_data_counts_for_modules_that_read_it(tmp_path: Path) -> None:
    src = _package(tmp_path, {
        **FILES,
        "abgd/reader.py": "from importlib import resources\n",
        "abgd/data/names.txt": "a\n",
    })
    reader, step = code_hash(src, "abgd.reader"), code_hash(src, "abgd.step")
    (src / "abgd/data/names.txt").write_text("b\n")
    assert code_hash(src, "abgd.reader") != reader
    assert code_hash(src, "abgd.step") == step


def test_unknown_module_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"abgd\.nope"):
        code_hash(_package(tmp_path, FILES), "abgd.nope")


def test_real_steps_see_what_they_use() -> None:
    """Editing training.py must rerun both trainings and nothing of the data preparation."""
    src = ROOT / "src"
    for step in ("train_single", "train_fusion"):
        assert "abgd.training" in closure(src, f"abgd.{step}")
    for step in ("download", "convert", "split", "demo", "groundtruth", "manifest"):
        assert "abgd.training" not in closure(src, f"abgd.{step}"), step


PACKAGE_STEP = {
    **FILES,
    "abgd/pkg/__init__.py": '"""A package step."""\nfrom abgd.pkg.world import make\n',
    "abgd/pkg/world.py": "from abgd import deep\n\n\ndef make():\n    return deep.VALUE\n",
    "abgd/pkg/__main__.py": "from abgd.pkg.cli import main\n\nraise SystemExit(main())\n",
    "abgd/pkg/cli.py": "def main():\n    return 0\n",
    "abgd/pkg/sub/__init__.py": "",
    "abgd/pkg/sub/extra.py": "EXTRA = 1\n",
}


def test_a_package_step_counts_all_its_files(tmp_path: Path) -> None:
    """`python -m abgd.pkg` runs `__main__`, which `__init__` does not import."""
    src = _package(tmp_path, PACKAGE_STEP)
    assert closure(src, "abgd.pkg") == [
        "abgd", "abgd.deep", "abgd.pkg", "abgd.pkg.__main__", "abgd.pkg.cli", "abgd.pkg.sub",
        "abgd.pkg.sub.extra", "abgd.pkg.world"]


@pytest.mark.parametrize(("name", "text", "changes"), [
    ("abgd/pkg/__main__.py", "from abgd.pkg.cli import main\n\nraise SystemExit(main() + 1)\n",
     True),
    ("abgd/pkg/cli.py", "def main():\n    return 1\n", True),      # only __main__ imports it
    ("abgd/pkg/sub/extra.py", "EXTRA = 2\n", True),                 # imported by nothing
    ("abgd/deep.py", "VALUE = 2\n", True),                          # what the package imports
    ("abgd/other.py", "OTHER = 3\n", False),
    ("abgd/pkg/cli.py", "def main():\n    # a comment\n    return 0\n", False),
])
def test_editing_any_file_of_a_package_step_changes_its_hash(tmp_path: Path, name: str,
                                                             text: str, changes: bool) -> None:
    src = _package(tmp_path, PACKAGE_STEP)
    before = code_hash(src, "abgd.pkg")
    (src / name).write_text(text)
    assert (code_hash(src, "abgd.pkg") != before) is changes


def test_the_demo_package_is_hashed_over_all_its_files() -> None:
    src = ROOT / "src"
    files = {f"abgd.demo.{path.stem}" for path in (src / "abgd" / "demo").glob("*.py")
             if path.stem != "__init__"}
    assert files >= {"abgd.demo.__main__", "abgd.demo.cli", "abgd.demo.world"}
    assert files <= set(closure(src, "abgd.demo"))

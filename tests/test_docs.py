"""The README and docs/ run as written: every Python block, per document, in order, with the numbers they show.

The conventions, for whoever writes the docs:

* Every ```python block of README.md and docs/*.md runs, in the order of the
  document, in one namespace per document, in an empty working directory (a
  user's fresh directory), with rnnprobe's default settings.
* A block whose first line starts with ``>>>`` is a doctest: what it shows is
  what comes out, numbers to within one unit of the last digit written
  (pytest's NUMBER option: ``0.078`` matches 0.0775 but not 0.0795; ``3.4e-35``
  matches 3.39e-35), and ``...`` stands for any text (ELLIPSIS).
* A block whose first line is ``# file: NAME.py`` is a file the user saves: it
  is written to the working directory and run there (a module of definitions
  is executed into the namespace; a ``test_*.py`` file is also run with pytest,
  and every test in it must pass).
* A block whose first line is ``# raises ExceptionName:`` must raise that
  exception; when a ```text block follows it directly, that text is the
  exception's message (``...`` for any text).
* Any other block must run without error.
* A block that cannot run as written (there is none today) is preceded by the
  line ``<!-- docs-test: skip REASON -->``.
"""

from __future__ import annotations

import doctest
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import subprocess

import pytest

from rnnprobe import schema

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(.+?)\s*-->")
FILE = re.compile(r"#\s*file:\s*(\S+)\s*$")
RAISES = re.compile(r"#\s*raises\s+(\w+)\s*:\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.register_optionflag("NUMBER")


@dataclass
class Block:
    """One fenced block of a document."""

    language: str
    code: str
    line: int                        # of the opening fence (1-based)
    skip: str | None = None          # the reason given in a skip marker
    text_after: str | None = None    # a ```text block that follows directly (a raises block's message)

    @property
    def first_line(self) -> str:
        return next((ln.strip() for ln in self.code.splitlines() if ln.strip()), "")


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with skip markers and directly following text blocks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i, last_end, pending_skip = 0, None, None
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            marker = SKIP.search(lines[i])
            if marker:
                pending_skip = marker.group(1)
            elif lines[i].strip():
                pending_skip = None
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        block = Block(m.group(1), "\n".join(body) + "\n", start + 1, pending_skip)
        gap = lines[last_end + 1:start] if last_end is not None else ["x"]
        if out and block.language == "text" and out[-1].language == "python" and not any(s.strip() for s in gap):
            out[-1].text_after = block.code
        out.append(block)
        pending_skip, last_end = None, i
        i += 1
    return out


def python_blocks(path: Path) -> list[Block]:
    return [b for b in blocks(path) if b.language == "python"]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _where(path: Path, block: Block) -> str:
    return f"{_shown(path)}, block at line {block.line}"


def _run_doctest(path, block, namespace):
    parser, checker = doctest.DocTestParser(), _checker()
    test = parser.get_doctest(block.code, namespace, path.name, str(path), block.line)
    runner = doctest.DocTestRunner(checker=checker, optionflags=FLAGS, verbose=False)
    report = []
    runner.run(test, out=report.append, clear_globs=False)
    assert runner.failures == 0, f"{_where(path, block)}:\n" + "".join(report)


def _checker():
    from _pytest.doctest import _get_checker   # pytest's checker understands NUMBER

    return _get_checker()


def _exec(path, block, namespace):
    exec(compile(block.code, f"{_shown(path)}:{block.line}", "exec"), namespace)


def _run_test_file(workdir: Path, name: str) -> subprocess.CompletedProcess:
    """Run a documented test file with pytest in a fresh interpreter (as its reader would).

    A fresh process, not pytester's inline run: an inline run unloads the modules it imported,
    and some of torch's cannot be imported twice in one process. The suite's timing rule applies
    (no per-example hypothesis deadline on a loaded CI machine), not the reader's.
    """
    (workdir / "conftest.py").write_text("from hypothesis import settings\n"
                                         "settings.register_profile('docs', deadline=None)\n"
                                         "settings.load_profile('docs')\n", encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "pytest", name, "-q", "-p", "no:cacheprovider"], cwd=workdir,
                          capture_output=True, text=True, timeout=600)


def run_document(path: Path, workdir: Path) -> list[str]:
    """Run every Python block of ``path`` in order; return the skipped blocks' reasons."""
    from rnnprobe import testing as rt

    namespace = {"__name__": f"docs:{path.name}"}
    skipped = []
    base_defaults = rt.set_defaults()           # a conftest block may change them: restored below
    try:
        for block in python_blocks(path):
            if block.skip:
                skipped.append(block.skip)
                continue
            first = block.first_line
            if first.startswith(">>>"):
                _run_doctest(path, block, namespace)
            elif FILE.match(first):
                name = FILE.match(first).group(1)
                (workdir / name).write_text(block.code, encoding="utf-8")
                _exec(path, block, namespace)
                if Path(name).name.startswith("test_"):
                    n_tests = len(re.findall(r"^def test_", block.code, flags=re.M))
                    result = _run_test_file(workdir, name)
                    passed = re.search(r"(\d+) passed", result.stdout)
                    assert result.returncode == 0 and passed and int(passed.group(1)) == n_tests, (
                        f"{_where(path, block)}: {name} should pass its {n_tests} tests\n" + result.stdout + result.stderr)
            elif RAISES.match(first):
                expected = RAISES.match(first).group(1)
                with pytest.raises(BaseException) as info:
                    _exec(path, block, namespace)
                assert type(info.value).__name__ == expected, f"{_where(path, block)}: raised {info.value!r}"
                if block.text_after is not None:
                    got = str(info.value)
                    ok = _checker().check_output(block.text_after, got + "\n", FLAGS)
                    assert ok, (f"{_where(path, block)}: the message shown is not the message raised.\n"
                                f"--- shown:\n{block.text_after}--- raised:\n{got}\n")
            else:
                _exec(path, block, namespace)
    finally:
        rt.set_defaults(**{f: getattr(base_defaults, f) for f in base_defaults.__dataclass_fields__})
        for name in [m for m, mod in sys.modules.items()
                     if str(getattr(mod, "__file__", "") or "").startswith(str(workdir))]:
            del sys.modules[name]
    return skipped


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_document_runs_as_written(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    skipped = run_document(path, tmp_path)
    assert len(skipped) <= 1, f"keep blocks that cannot run rare: {skipped}"


# ------------------------------------------------------------------ the conventions themselves
def test_block_parser_and_conventions(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("intro\n\n```python\n>>> 1 + 1\n2\n```\n\n<!-- docs-test: skip needs a GPU -->\n```python\n"
                   "x = 1\n```\n```python\n# raises ValueError:\nint('a')\n```\n\n```text\ninvalid literal ...\n```\n"
                   "\n```bash\nls\n```\n")
    found = blocks(doc)
    assert [b.language for b in found] == ["python", "python", "python", "text", "bash"]
    assert found[0].first_line == ">>> 1 + 1" and found[1].skip == "needs a GPU" and found[0].skip is None
    assert found[2].text_after == "invalid literal ...\n" and found[1].text_after is None


def test_a_wrong_number_fails(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("```python\n>>> 0.0781\n0.078\n```\n")
    run_document(doc, tmp_path)
    doc.write_text("```python\n>>> 0.0781\n0.080\n```\n")
    with pytest.raises(AssertionError, match="Expected:"):
        run_document(doc, tmp_path)
    doc.write_text("```python\n# raises ValueError:\nint('a')\n```\n\n```text\nsome other message\n```\n")
    with pytest.raises(AssertionError, match="the message shown is not the message raised"):
        run_document(doc, tmp_path)


# ------------------------------------------------------------------ facts the documents state
def test_point_file_names_are_documented_as_written():
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    point_id, file_name = re.search(r"point\s+`([^`]+)`\s+is written to\s+`points/([^`]+)`", text).groups()
    assert schema.point_file_name(point_id) == file_name


def test_readme_and_testing_guide_list_every_plugin_fixture():
    import rnnprobe.pytest_plugin as plugin

    fixtures = {name for name in dir(plugin)
                if name.startswith("rnnprobe_") and type(getattr(plugin, name)).__name__ == "FixtureFunctionDefinition"}
    assert fixtures >= {"rnnprobe_model", "rnnprobe_seed"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = re.search(r"The plugin:\s*fixtures (.+?);", readme, flags=re.S).group(1)
    assert set(re.findall(r"`(rnnprobe_\w+)`", sentence)) == fixtures
    guide = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    table = guide[guide.index("### Fixtures"):guide.index("### Tolerances")]
    assert set(re.findall(r"^\| `(rnnprobe_\w+)`", table, flags=re.M)) == fixtures

"""Tests of the pytest plugin, by running small user test files with pytester."""

import dataclasses
import os
import pathlib
import re
import sys
import tomllib

import pytest
import scipy.stats  # noqa: F401  (imported before pytester's inline runs, which unload the modules they
import torch        # import first, and numpy's C extensions cannot be loaded twice in one process)

import rnnprobe.pytest_plugin as plugin
from rnnprobe import testing as rt

pytest_plugins = ["pytester"]

REPO = pathlib.Path(__file__).resolve().parents[1]
PLUGIN = ("-p", "rnnprobe.pytest_plugin")

# G(k) = 0.5^k: G(6) = 0.0156 passes eps = 0.02 and fails the default eps = 0.01
VANISH_AT_6 = """
import pytest
import rnnprobe
from rnnprobe.testing import assert_gradients_vanish

def check():
    model = rnnprobe.build("vanilla-linear", hidden_size=4, init="orthogonal", gain=0.5)
    assert_gradients_vanish(model, rnnprobe.strategies.seeded_sequence(20, 1), within=6)
"""


def test_options_mirror_the_defaults():
    assert plugin.OPTIONS == tuple(f.name for f in dataclasses.fields(rt.Defaults))


def test_fixtures(pytester):
    pytester.makepyfile(
        """
        import torch
        import rnnprobe
        from rnnprobe.testing import get_defaults

        def test_factories(rnnprobe_model, rnnprobe_inputs, rnnprobe_torch_rnn, rnnprobe_seed, rnnprobe_defaults):
            assert rnnprobe_seed == 0 and rnnprobe_defaults == get_defaults()
            model = rnnprobe_model("lstm", hidden_size=4)
            reference = rnnprobe.build("lstm", 4, 1, seed=0)
            assert all(torch.equal(p, q) for p, q in zip(model.parameters(), reference.parameters()))
            assert rnnprobe_model("mlp", hidden_size=3, depth=2).depth == 2
            assert rnnprobe_inputs(model, length=12, batch=2).shape == (12, 2, 1)
            gru = rnnprobe_torch_rnn("gru", input_size=3, hidden_size=5)
            assert isinstance(gru, torch.nn.GRU) and gru.hidden_size == 5
            x = rnnprobe_inputs(gru, length=4)
            assert x.shape == (4, 3) and x.dtype == torch.float32

        def test_torch_global_rng_is_seeded(rnnprobe_seed):
            expected = torch.randn(3, generator=torch.Generator().manual_seed(rnnprobe_seed))
            assert torch.equal(torch.randn(3), expected)
        """
    )
    state = torch.get_rng_state()
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=2)
    assert torch.equal(torch.get_rng_state(), state)  # the fixture restores torch's global generator


def test_marker_sets_the_defaults_for_one_test(pytester):
    pytester.makepyfile(VANISH_AT_6 + """
def test_default_eps():
    check()

@pytest.mark.rnnprobe(eps=0.02)
def test_marked():
    check()

@pytest.mark.rnnprobe(eps=0.02)
class TestClass:
    @pytest.mark.rnnprobe(seed=5)
    def test_merged(self, rnnprobe_defaults, rnnprobe_seed):
        assert (rnnprobe_defaults.eps, rnnprobe_seed) == (0.02, 5)
        check()
""")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: gradients do not vanish within 6 steps (criterion within): G(k) = 0.0156 >= eps = 0.01 at lag k = 6*",
        "*hint: σ_max(W_h)·γ = 0.5 < 1 guarantees G(k) <= 0.5^k < eps only from lag 7*",
    ])


def test_command_line_option_and_its_precedence(pytester):
    pytester.makepyfile(VANISH_AT_6 + """
def test_default_eps():
    check()

@pytest.mark.rnnprobe(eps=0.01)
def test_marker_wins():
    check()
""")
    result = pytester.runpytest(*PLUGIN, "--rnnprobe-eps=0.02")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["rnnprobe defaults: eps=0.02", "*FAILED*test_marker_wins*"])


def test_ini_option(pytester):
    pytester.makeini("[pytest]\nrnnprobe_eps = 0.02\nrnnprobe_seed = 3\n")
    pytester.makepyfile(VANISH_AT_6 + """
def test_from_ini(rnnprobe_seed):
    assert rnnprobe_seed == 3
    check()
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)
    # the command line wins over the ini file
    pytester.runpytest(*PLUGIN, "--rnnprobe-eps=0.01", "--rnnprobe-seed=3").assert_outcomes(failed=1)


@pytest.mark.parametrize("option, message", [
    ("--rnnprobe-eps=2", "*rnnprobe options: eps must lie in (0, 1); got 2.0*"),
    ("--rnnprobe-max-norm=abc", "*--rnnprobe-max-norm must be a number; got 'abc'*"),
    ("--rnnprobe-seed=1.5", "*--rnnprobe-seed must be an integer; got '1.5'*"),
])
def test_invalid_options_are_usage_errors(pytester, option, message):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest(*PLUGIN, option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_invalid_markers_fail_the_test(pytester):
    pytester.makepyfile("""
import pytest

@pytest.mark.rnnprobe(epsilon=0.1)
def test_misspelt():
    pass

@pytest.mark.rnnprobe(0.1)
def test_positional():
    pass
""")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*@pytest.mark.rnnprobe: unknown default 'epsilon'; allowed: rtol, atol, eps, max_norm, isometry_tol, seed;*"
        "(did you mean 'eps'?)*",
        "*@pytest.mark.rnnprobe takes keyword arguments only*got positional (0.1,)*",
    ])


def test_help_and_markers_document_the_plugin(pytester):
    result = pytester.runpytest(*PLUGIN, "--help")
    result.stdout.fnmatch_lines(["rnnprobe gradient and memory assertions*", "*--rnnprobe-rtol=FLOAT*",
                                 "*--rnnprobe-seed=INT*", "*rnnprobe_eps (string):*"])
    result = pytester.runpytest(*PLUGIN, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.rnnprobe(rtol=None, atol=None, eps=None, max_norm=None, "
                                 "isometry_tol=None, seed=None): set rnnprobe.testing's defaults*"])


def test_hypothesis_tests_work_under_the_plugin(pytester):
    pytester.makepyfile("""
import pytest
from hypothesis import given, settings
from rnnprobe import strategies as rs
from rnnprobe.testing import assert_gradients_do_not_explode

@pytest.mark.rnnprobe(max_norm=1e6)
@settings(max_examples=5, deadline=None)
@given(rs.trajectories(rs.models(architectures="lstm", max_hidden=3), max_length=8))
def test_lstm_does_not_explode(traj):
    assert_gradients_do_not_explode(traj)
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_the_project_suite_collects_the_plugin_module_for_doctests_with_the_plugin_loaded(pytester):
    result = pytester.runpytest(*PLUGIN, "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO),
                                str(REPO / "rnnprobe" / "pytest_plugin.py"))
    result.assert_outcomes(passed=1)


def test_installed_entry_point_and_explicit_loading_do_not_clash(pytester, monkeypatch):
    """The pyproject entry point, ``-p rnnprobe.pytest_plugin`` and a conftest's pytest_plugins, all at once."""
    entry_points = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    site = pytester.mkdir("site")
    dist = site / "rnnprobe_installed-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rnnprobe-installed\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{name} = {target}\n" for name, target in entry_points.items()))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(site)]))
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makeconftest('pytest_plugins = ["rnnprobe.pytest_plugin"]\n')
    pytester.makepyfile("def test_fixture(rnnprobe_seed):\n    assert rnnprobe_seed == 4\n")
    result = pytester.runpytest_subprocess(*PLUGIN, "--rnnprobe-seed=4", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # the entry point alone registers it (no -p, no conftest), and loading it imports neither
    # rnnprobe.testing nor rnnprobe.strategies (nor hypothesis, through them) until they are used
    (pytester.path / "conftest.py").unlink()
    pytester.makepyfile(test_lazy="""
import sys

def test_registered_and_lazy(request):
    assert request.config.pluginmanager.has_plugin("rnnprobe.pytest_plugin")
    assert "rnnprobe.pytest_plugin" in sys.modules
    assert "rnnprobe.testing" not in sys.modules and "rnnprobe.strategies" not in sys.modules
""")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_lazy.py").assert_outcomes(passed=1)


# --------------------------------------------------------------------------- the user guide, docs/testing.md
def _guide_blocks():
    return re.findall(r"```(\w+)\n(.*?)```", (REPO / "docs" / "testing.md").read_text(), flags=re.S)


def _guide_files():
    files = {}
    for lang, body in _guide_blocks():
        if lang == "python" and body.startswith("# file: "):
            name, _, code = body.partition("\n")
            files[name.removeprefix("# file: ")] = code
    return files


def test_the_guides_test_files_pass(pytester):
    files = _guide_files()
    assert set(files) == {"test_my_rnn.py", "test_properties.py", "test_with_fixtures.py", "conftest.py"}
    for name, code in files.items():
        (pytester.path / name).write_text(code)
    previous = rt.get_defaults()
    try:  # the guide's conftest.py calls set_defaults(), process-wide
        pytester.runpytest(*PLUGIN).assert_outcomes(passed=6)
    finally:
        rt.set_defaults(**dataclasses.asdict(previous))


def test_the_guides_failure_messages_are_what_its_code_raises(pytester, monkeypatch):
    blocks = _guide_blocks()
    (pytester.path / "test_my_rnn.py").write_text(_guide_files()["test_my_rnn.py"])
    monkeypatch.syspath_prepend(str(pytester.path))
    checked = 0
    for (lang, code), following in zip(blocks, blocks[1:]):
        if lang != "python" or not code.startswith("# raises AssertionError:"):
            continue
        assert following[0] == "text"
        with torch.random.fork_rng(), pytest.raises(AssertionError) as info:
            exec(compile(code, "docs/testing.md", "exec"), {})
        assert str(info.value) == following[1].rstrip("\n")
        checked += 1
    monkeypatch.delitem(sys.modules, "test_my_rnn", raising=False)
    assert checked == 6

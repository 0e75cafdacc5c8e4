"""The registry is the one list of architectures: a new one, registered, shows up everywhere without other edits."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import Phase, find, settings

import rnnprobe
import rnnprobe.strategies as rs
from rnnprobe import studies
from rnnprobe.errors import InvalidArgument
from rnnprobe.models import FAMILIES, ArchitectureSpec, RecurrentModel, register_architecture, unregister_architecture
from rnnprobe.models.registry import architectures
from rnnprobe.testing import assert_memory_at_least

ROOT = Path(__file__).resolve().parents[1]
F64 = torch.float64
QUICK = settings(database=None, phases=[Phase.generate, Phase.shrink], max_examples=200)


class ToyDiagonal(RecurrentModel):
    """A diagonal linear recurrence h' = λ ⊙ h + W_x x, λ_i spread evenly over [decay / 2, decay]."""

    name = "toy-diagonal"
    family = "diagonal"
    analytic_jacobian = True

    def __init__(self, hidden_size, input_size=1, *, decay=0.9, gain=1.0, init="gaussian", bias_std=0.0, seed=0,
                 dtype=torch.float64):
        super().__init__()
        self.hidden_size = self.state_size = hidden_size
        self.input_size = input_size
        g = torch.Generator().manual_seed(seed)
        self.decay = decay
        self.lam = torch.nn.Parameter(torch.linspace(decay / 2, decay, hidden_size, dtype=F64).to(dtype))
        self.W_x = torch.nn.Parameter((gain * torch.randn(hidden_size, input_size, generator=g, dtype=F64)).to(dtype))

    def step(self, x, state, t=0):
        return self.lam * state + x @ self.W_x.T

    def step_jacobian(self, x, state, t=0):
        return torch.diag_embed(self.lam.expand_as(state))

    def recurrent_weights(self):
        return {"Lambda": torch.diag(self.lam.detach())}


TOY = ArchitectureSpec("toy-diagonal", ToyDiagonal, "recurrent", "h' = lambda * h + W_x x (diagonal)", cost=2.5,
                       draw_options={"decay": (0.2, 0.6)})


@pytest.fixture
def registry_restored():
    """Whatever a test registers is gone afterwards, and the order is the one before."""
    before = dict(architectures._specs)
    yield
    architectures._specs.clear()
    architectures._specs.update(before)


@pytest.fixture
def toy(registry_restored):
    return register_architecture(TOY)


def test_a_registered_architecture_is_built_listed_and_declares_its_family(toy):
    assert list(rnnprobe.architectures)[-1] == "toy-diagonal" and "toy-diagonal" in architectures.recurrent()
    assert toy.family == "diagonal"
    assert architectures.of_family("diagonal") == ["lru", "s4d", "s6", "mingru", "minlstm", "toy-diagonal"]
    assert toy.options == ("decay", "gain", "init", "bias_std", "seed", "dtype")
    model = rnnprobe.build("toy-diagonal", hidden_size=4, decay=0.8, seed=1)
    assert isinstance(model, ToyDiagonal) and model.family == "diagonal"
    # its probes: G(k) of a diagonal linear recurrence is max λ^k = 0.8^k, the closed form
    traj = rnnprobe.record(model, torch.randn(12, 1, dtype=F64, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj), 0.8 ** traj.lags.to(F64), rtol=1e-12, atol=0)
    assert rnnprobe.weight_spectrum(model).pascanu == "not applicable"


def test_a_registered_architecture_gets_the_next_palette_colour(registry_restored):
    from rnnprobe.reports.palette import ARCH_COLOURS, ARCH_PALETTE, arch_color

    before = dict(ARCH_PALETTE)
    assert arch_color("my-cell") not in before.values()              # unknown names take a colour nobody has
    register_architecture(TOY)
    after = dict(ARCH_PALETTE)
    assert {k: after[k] for k in before} == before                   # every existing colour stays
    assert after["toy-diagonal"] == ARCH_COLOURS[len(architectures) - 1]
    assert len(set(after.values())) == len(after)
    assert reports_colour_of_many(len(ARCH_COLOURS) + 3) == len(ARCH_COLOURS) + 3


def reports_colour_of_many(n):
    """How many distinct colours the first n palette positions get (past the list: tints)."""
    from rnnprobe.reports.palette import _nth_colour

    return len({_nth_colour(i) for i in range(n)})


def test_a_registered_architecture_is_drawn_by_the_strategies(registry_restored):
    # among the default (recurrent) architectures: only then is its own option accepted without naming it
    with pytest.raises(InvalidArgument, match=r"option 'decay' is not accepted by any of the architectures"):
        rs.models(options={"decay": 0.5})
    register_architecture(TOY)
    rs.models(options={"decay": 0.5})
    # with its draw_options in range
    decays = set()
    find(rs.models(architectures="toy-diagonal", max_hidden=2), lambda m: decays.add(m.decay) or len(decays) > 5,
         settings=QUICK)
    assert all(0.2 <= d <= 0.6 for d in decays)
    with pytest.raises(InvalidArgument, match=r"option 'decya' is not accepted by any.*did you mean 'decay'"):
        rs.models(architectures="toy-diagonal", options={"decya": 0.5})


def test_a_registered_architecture_is_accepted_and_probed_by_the_studies(toy):
    for name in ("vanishing", "memory"):
        study = studies.load(name)
        assert "toy-diagonal" in study.archs
        grid = study.resolve({"arch": ["toy-diagonal"], "length": [10], "hidden": [3]}, quick=True)
        points = study.points(grid)
        assert {p["arch"] for p in points} == {"toy-diagonal"}
        assert all(p.get("forget_bias") is None and p.get("update_bias") is None for p in points)
    vanishing = studies.load("vanishing")
    point = dict(arch="toy-diagonal", hidden=3, length=10, depth=None, gain=1.0, seed=0, init="orthogonal")
    assert vanishing.cost(point) == 10 * 2.5
    rows, summary = vanishing.module.probe(point)
    G = [r[-1] for r in rows if r[0] == "jacobian_norm"]
    assert len(G) == 10 and summary["pascanu"] == "not applicable" and summary["bound_holds"]
    # with the default decay 0.9: G(k) = 0.9^k >= eps = 0.01 up to lag 43 > T, so the threshold is T, censored
    assert summary["memory_threshold"] == 10 and summary["memory_threshold_censored"]
    depth = studies.load("depth")
    assert "toy-diagonal" not in depth.archs and "stacked-rnn" in depth.archs


def test_the_assertion_hints_follow_the_declared_family(toy):
    model = rnnprobe.build("toy-diagonal", hidden_size=3, decay=0.5)
    with pytest.raises(AssertionError, match=r"(?s)memory is shorter than 20 steps.*hint: the per-unit factors λ_i of "
                                             r"the diagonal recurrence.*max\|λ_i\| >= eps\^\(1/20\) = 0.794"):
        assert_memory_at_least(model, 20, torch.zeros(30, 1))


@pytest.mark.parametrize("make, pattern", [
    (lambda: ArchitectureSpec("", ToyDiagonal, "recurrent", "x"), r"name must be a non-empty string.*got ''"),
    (lambda: ArchitectureSpec("toy", torch.nn.Linear, "recurrent", "x"),
     r"factory of architecture 'toy' must be a StepModel subclass.*got <class 'torch.nn.modules.linear.Linear'>"),
    (lambda: ArchitectureSpec("toy", ToyDiagonal, "feedforward", "x"),
     r"kind of architecture 'toy' must be its class's kind 'recurrent' \(ToyDiagonal\); got 'feedforward'"),
    (lambda: ArchitectureSpec("toy", ToyDiagonal, "recurent", "x"),
     r"kind must be one of 'recurrent', 'feedforward'; got 'recurent' \(did you mean 'recurrent'\?\)"),
    (lambda: ArchitectureSpec("toy", type("NoFamily", (ToyDiagonal,), {"family": "diag"}), "recurrent", "x"),
     r"NoFamily.family must be one of 'vanilla', 'gated', 'residual', 'dense', 'diagonal', 'feedforward', "
     r"'custom' \(architecture 'toy'\); got 'diag'"),
    (lambda: ArchitectureSpec("toy", ToyDiagonal, "recurrent", "x", cost=0), r"cost of architecture 'toy' must be a "
                                                                             r"finite number > 0; got 0"),
    (lambda: ArchitectureSpec("toy", ToyDiagonal, "recurrent", "x", cost=float("nan")), r"cost.*got nan"),
    (lambda: ArchitectureSpec("toy", ToyDiagonal, "recurrent", "x", draw_options={"alpha": (0.0, 1.0)}),
     r"draw_options of architecture 'toy' must name options it accepts \(decay, gain, .*\); got 'alpha'"),
    (lambda: ArchitectureSpec("toy", ToyDiagonal, "recurrent", "x", draw_options={"decay": (1.0, 0.5)}),
     r"draw_options\['decay'\] of architecture 'toy' must be a pair \(low, high\).*got \(1.0, 0.5\)"),
    (lambda: ArchitectureSpec("toy", ToyDiagonal, "recurrent", "x", draw_options={"decay": 0.5}),
     r"draw_options\['decay'\].*got 0.5"),
    (lambda: register_architecture(ArchitectureSpec("lstm", ToyDiagonal, "recurrent", "x")),
     r"architecture 'lstm' is already registered \(pass replace=True to replace it\); got spec.name='lstm'"),
    (lambda: register_architecture("toy"), r"spec must be an ArchitectureSpec; got str"),
    (lambda: unregister_architecture("lstn"), r"architecture must be one of .*; got 'lstn' \(did you mean 'lstm'\?\)"),
    (lambda: architectures.of_family("gatd"), r"family must be one of .*; got 'gatd' \(did you mean 'gated'\?\)"),
])
def test_bad_architecture_specs_are_refused(registry_restored, make, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        make()
    assert "toy" not in architectures


def test_replace_keeps_the_place_in_the_order(registry_restored):
    order = list(architectures)
    spec = ArchitectureSpec("gru", architectures["gru"].factory, "recurrent", "another description", cost=9.0)
    register_architecture(spec, replace=True)
    assert list(architectures) == order and architectures["gru"].cost == 9.0


# --------------------------------------------------------------------------- families of the built-ins
BUILT_IN_FAMILIES = {
    "vanilla-tanh": "vanilla", "vanilla-relu": "vanilla", "vanilla-sigmoid": "vanilla", "vanilla-linear": "vanilla",
    "gru": "gated", "gru-torch": "gated", "lstm": "gated", "residual": "residual", "dense": "dense",
    "mlp": "feedforward", "resmlp": "residual", "densemlp": "dense",
}


def test_built_in_architectures_declare_their_families():
    for name, family in BUILT_IN_FAMILIES.items():
        assert architectures[name].family == family, name
        assert rnnprobe.build(name, hidden_size=2).family == family, name
    for name, spec in architectures.items():
        assert spec.family in FAMILIES
        # the lecture's D·W_h form (Pascanu verdict, B_W) only exists in the vanilla and plain stacks
        assert not rnnprobe.build(name, hidden_size=2).lecture_form or spec.family in ("vanilla", "feedforward")


def test_no_code_guesses_the_family_from_a_name():
    # the substrings a name-based guess would test for, in the library's code (docs and messages aside)
    pattern = r'("lstm"|"gru"|"residual"|"vanilla") in \w*name|name\.startswith\(("residual"|"vanilla"|"cell:")'
    out = subprocess.run(["grep", "-rnE", pattern, "rnnprobe", "studies", "analysis", "reports", "--include=*.py"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.stdout == ""


# --------------------------------------------------------------------------- exports
def test_rnnprobe_exports_every_public_name_of_rnnprobe_models():
    import rnnprobe.models

    assert set(rnnprobe.models.__all__) <= set(rnnprobe.__all__)
    assert len(rnnprobe.__all__) == len(set(rnnprobe.__all__))
    for name in rnnprobe.models.__all__:
        assert getattr(rnnprobe, name) is getattr(rnnprobe.models, name), name
    for name, spec in architectures.items():      # every built-in class is exported
        assert getattr(rnnprobe, spec.model_class.__name__) is spec.model_class, name


def test_import_rnnprobe_stays_light():
    code = ("import sys, rnnprobe, rnnprobe.models; "
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'seaborn') if m in sys.modules)); "
            "rnnprobe.VanillaRNN; print(sorted(m for m in ('pandas', 'matplotlib', 'seaborn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]

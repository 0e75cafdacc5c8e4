"""The ``rnnprobe`` command line.

::

    rnnprobe studies                      list the studies and the question each answers
    rnnprobe study NAME [OPTIONS]         run a study into a directory of tidy tables
    rnnprobe probe ARCH | --model FILE    probe one model (on --inputs X.pt) and print a short table
    rnnprobe train [--text FILE] ...      train a char-RNN, probing it as it learns
    rnnprobe sample CHECKPOINT            sample text from a trained char-RNN

Each command parses its options and calls one Python function a notebook can
call too: ``rnnprobe study`` is :func:`rnnprobe.studies.run` (plus the report),
``rnnprobe report`` is :func:`rnnprobe.reports.write_report`, ``rnnprobe probe``
runs the probes. Heavy imports (torch, the studies, pandas, the report
generator) happen inside the commands that need them, so that ``rnnprobe
--help`` answers at once. Every bad argument is a usage error (exit code 2)
that names the option and the value, and is caught before anything is written;
a failure of the machine (a full disk) exits with code 1 and one line, and
Ctrl-C with 130.

Examples
--------
>>> from click.testing import CliRunner
>>> from rnnprobe.cli import main
>>> print(CliRunner().invoke(main, ["studies"]).output)
attention  Does attention cure "asking the network too much": ...
depth      How far from an isometry is the input-output Jacobian of a deep stack, ...
memory     How long do recurrent nets remember, ...
vanishing  How do gradients vanish or explode through time, ...
>>> result = CliRunner().invoke(main, ["study", "vanishng"])
>>> result.exit_code, "did you mean 'vanishing'?" in result.output
(2, True)
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import sys
from pathlib import Path

import click

from rnnprobe import __version__

log = logging.getLogger("rnnprobe.cli")

#: CLI option of each core grid axis (other axes go through --set)
AXIS_OPTIONS = {"arch": "--arch", "length": "--lengths", "depth": "--depths", "gain": "--gains",
                "hidden": "--hidden", "seed": "--seeds"}
#: CLI option of the other keywords of rnnprobe.studies.run
RUN_OPTIONS = {"name": "NAME", "out": "--out", "jobs": "--jobs", "scheduler": "--scheduler", "force": "--force",
               "quick": "--quick", "dtype": "--dtype", "device": "--device"}


class CommaList(click.ParamType):
    """A comma-separated list of ints, floats or strings (an empty string is an empty list)."""

    def __init__(self, item_type: type):
        self.item_type = item_type
        self.name = {int: "integer list", float: "number list", str: "name list"}[item_type]

    def get_metavar(self, param, ctx=None):
        return {int: "N,N,...", float: "X,X,...", str: "NAME,..."}[self.item_type]

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        items = [s.strip() for s in str(value).split(",")] if str(value).strip() else []
        out = []
        for item in items:
            if item == "":
                self.fail(f"{value!r} has an empty item", param, ctx)
            try:
                out.append(self.item_type(item))
            except ValueError:
                kind = "an integer" if self.item_type is int else "a number"
                self.fail(f"{item!r} is not {kind} (in {value!r})", param, ctx)
        return out


class NonEmptyPath(click.Path):
    """A ``click.Path`` that refuses the empty string (which would otherwise mean the current directory)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value.strip() == "":
            self.fail(f"must be a path; got {value!r} (an empty path; write '.' for the current directory)",
                      param, ctx)
        return super().convert(value, param, ctx)


#: errno values of a failure of the machine (exit code 1) rather than of the arguments (exit code 2)
_ENVIRONMENTAL = {getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EIO", "EFBIG", "ENOMEM", "ESTALE")
                  if hasattr(errno, name)}


class _StderrHandler(logging.StreamHandler):
    """Logs to whatever ``sys.stderr`` is when a record is emitted (robust to redirection)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("rnnprobe")
    root.handlers[:] = [handler]
    root.setLevel(level)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnnprobe")
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug).")
def main(verbose: int) -> None:
    """Measure how gradients and memory travel through recurrent (and deep) networks.

    Run a study ('rnnprobe study vanishing'), list the studies ('rnnprobe studies'),
    or probe one model ('rnnprobe probe lstm'). Each command has its own --help.
    """
    _setup_logging(verbose)


# --------------------------------------------------------------------------- studies
def _list_studies() -> None:
    from rnnprobe import studies

    found = studies.available()
    width = max(map(len, found), default=0)
    for name, question in found.items():
        click.echo(f"{name:<{width}}  {question}")


@main.command("studies")
def studies_command() -> None:
    """List the studies and the question each answers."""
    _list_studies()


def _fail(message: str, option: str | None = None):
    if option is None:
        raise click.UsageError(message)
    raise click.BadParameter(message, param_hint=f"'{option}'")


def _load_study(name):
    from rnnprobe import studies

    if name is None:
        raise click.UsageError(
            f"Missing argument 'NAME': one of {', '.join(studies.available())} ('rnnprobe studies' lists them)")
    if name not in studies.available():
        _fail(studies.unknown_study_message(name), "NAME")
    return studies.load(name)


def _grid_overrides(study, *, arch, lengths, depths, gains, hidden, seeds, settings) -> dict:
    """The grid options as ``rnnprobe.studies.run`` keywords (axis -> values); --set values parsed by axis type."""
    given = {"arch": arch, "length": lengths, "depth": depths, "gain": gains,
             "hidden": None if hidden is None else [hidden],
             "seed": None if seeds is None else range(seeds)}     # a range: run() checks its size before listing it
    overrides = {axis: values for axis, values in given.items() if values is not None}
    for setting in settings:
        axis, sep, raw = setting.partition("=")
        axis = axis.strip()
        if not sep:
            _fail(f"expected AXIS=V1,V2,...; got {setting!r}", "--set")
        if axis in AXIS_OPTIONS:
            _fail(f"use {AXIS_OPTIONS[axis]} for axis {axis!r}; got {setting!r}", "--set")
        if axis not in study.axes:
            _fail(f"axis {axis!r} does not apply to study {study.name!r} (its grid axes: {', '.join(study.axes)})",
                  "--set")
        if axis in overrides:
            _fail(f"axis {axis!r} is set twice", "--set")
        try:
            overrides[axis] = CommaList(study.axes[axis].type).convert(raw, None, None)
        except click.BadParameter as exc:
            _fail(f"{axis}: {exc.message}", "--set")
    return overrides


def _option_of(parameter: str | None) -> str | None:
    """The command-line option of a keyword of ``rnnprobe.studies.run`` (None: a usage error of the whole call)."""
    if parameter is None:
        return None
    return AXIS_OPTIONS.get(parameter) or RUN_OPTIONS.get(parameter) or "--set"


def _usage_error(exc) -> None:
    """A ``StudyArgumentError`` of ``rnnprobe.studies.run`` as a usage error naming the option (exit 2)."""
    _fail(str(exc).replace("pass force=True", "pass --force"), _option_of(getattr(exc, "parameter", None)))


def _progress_enabled() -> bool:
    """A progress bar only on a terminal (never in logs, pipes or CI)."""
    return sys.stderr.isatty()


def _write_report(out: Path) -> Path:
    from rnnprobe import reports

    return reports.write_report(out)


class _Bar:
    """A click progress bar fed by ``rnnprobe.studies.run``'s ``progress(done, total)`` calls."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, show_eta=True, show_pos=True,
                                         file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@main.command("study")
@click.argument("name", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the studies and exit.")
@click.option("--out", type=NonEmptyPath(file_okay=False, path_type=Path),
              help="Output directory  [default: ./rnnprobe-results/NAME]")
@click.option("--arch", type=CommaList(str), help="Architectures, comma-separated (overrides the grid).")
@click.option("--lengths", type=CommaList(int), help="Sequence lengths T, e.g. 10,50,100.")
@click.option("--depths", type=CommaList(int), help="Depths L (depth study), e.g. 2,8,32.")
@click.option("--gains", type=CommaList(float), help="Gains, e.g. 0.5,1,1.5.")
@click.option("--hidden", type=click.IntRange(min=1), help="Hidden size n.")
@click.option("--seeds", type=click.IntRange(min=1), help="Number of seeds K (seeds 0 … K-1).")
@click.option("--set", "settings", multiple=True, metavar="AXIS=V1,V2",
              help="Override another grid axis, e.g. --set forget_bias=0,3 (repeatable).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Worker processes  [default: the CPUs available]")
@click.option("--quick", is_flag=True, help="The study's small grid, for smoke tests (seconds).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True)
@click.option("--scheduler", metavar="ADDRESS", help="Run the grid on this Dask scheduler (rnnprobe[dask]).")
@click.option("--no-report", is_flag=True, help="Write the tables only, no report.")
@click.option("--force", is_flag=True, help="Discard a run in --out made with different settings.")
def study_command(name, list_only, out, arch, lengths, depths, gains, hidden, seeds, settings, jobs, quick,
                  device, dtype, scheduler, no_report, force):
    """Run study NAME over its grid and write results.csv, summary.csv and meta.json.

    The grid options replace the study's default (or --quick) grid. Each finished grid
    point is saved at once under OUT/points/: a run that is stopped resumes where it
    stopped when started again with the same arguments; the tables are identical to
    an uninterrupted run's. The columns are documented in docs/results.md. The same
    run from Python: rnnprobe.studies.run(NAME, out=..., **grid).
    """
    if list_only:
        _list_studies()
        return
    study = _load_study(name)
    overrides = _grid_overrides(study, arch=arch, lengths=lengths, depths=depths, gains=gains, hidden=hidden,
                                seeds=seeds, settings=settings)
    from rnnprobe import studies

    out = Path("rnnprobe-results") / study.name if out is None else out
    bar = _Bar(study.name) if _progress_enabled() else None
    try:
        result = studies.run(study.name, out=out, jobs=jobs, scheduler=scheduler, force=force, quick=quick,
                             dtype=dtype, device=device, progress=bar, **overrides)
    except studies.StudyArgumentError as exc:
        _usage_error(exc)
    except studies.RunInterrupted as exc:
        if bar:
            bar.close()
        click.echo(f"\n{exc}; run the same command again to resume", err=True)
        sys.exit(130)
    except studies.PointFailed as exc:
        raise click.ClickException(f"{exc} ({exc.saved} of {exc.total} points are saved in {out}; "
                                   "a rerun resumes from there)") from exc
    except studies.WriteFailed as exc:          # a full disk: the machine's failure (exit 1), not the arguments'
        raise click.ClickException(str(exc)) from exc
    finally:
        if bar:
            bar.close()
    meta = result.meta
    timings = meta["timings"]
    side = "".join(f", {name}" for name in (meta.get("tables") or {}).values())
    click.echo(f"{study.name}: {meta['n_points']} points ({timings['computed']} computed, {timings['resumed']} resumed) "
               f"in {timings['total_s']:.1f} s -> {out}/results.csv ({meta['n_rows']} rows), summary.csv{side}, "
               "meta.json")
    if not no_report:
        try:
            written = _write_report(out)
        except Exception as exc:  # noqa: BLE001 - the tables are safe; say what failed
            raise click.ClickException(f"the tables are written, but the report failed: "
                                       f"{type(exc).__name__}: {exc}") from exc
        click.echo(f"report: {written}")


# --------------------------------------------------------------------------- report
@main.command("report")
@click.argument("results_dir", type=NonEmptyPath(file_okay=False, path_type=Path))
@click.option("-o", "--output", type=NonEmptyPath(path_type=Path),
              help="The PDF to write  [default: RESULTS_DIR/report.pdf]; a directory means DIR/report.pdf.")
@click.option("--no-png", is_flag=True, help="Do not write the figures as PNG beside the PDF.")
@click.option("--no-tables", is_flag=True, help="Do not write the tables as CSV and Markdown beside the PDF.")
@click.option("--dpi", type=click.IntRange(min=30, max=1200), default=150, show_default=True,
              help="Resolution of the PNG figures.")
def report_command(results_dir, output, no_png, no_tables, dpi) -> None:
    """Write the PDF report of a study's results directory.

    RESULTS_DIR is the output directory of 'rnnprobe study NAME' (results.csv,
    summary.csv, meta.json). The report has a title page, the configuration, a
    summary table, every figure with a caption stating its measured finding, the
    analysis tables and a methods page; the figures (PNG) and tables (CSV,
    Markdown) are written beside it.
    """
    import rnnprobe

    if not results_dir.is_dir():
        _fail(f"RESULTS_DIR must be a study output directory; got {str(results_dir)!r}, which does not exist",
              "RESULTS_DIR")
    if output is not None and output.exists() and not output.is_dir() and not os.access(output, os.W_OK):
        _fail(f"the output file is not writable; got {str(output)!r}", "--output")
    try:
        from rnnprobe import reports

        written = reports.write_report(results_dir, output, png=not no_png, tables=not no_tables, dpi=dpi)
    except rnnprobe.InvalidArgument as exc:
        raise click.UsageError(str(exc)) from exc
    except OSError as exc:
        if exc.errno in _ENVIRONMENTAL:         # a full disk: exit 1; no file is left half-written
            raise click.ClickException(f"cannot write the report: {exc.strerror or exc}"
                                       + (f" ({exc.filename})" if exc.filename else "")) from exc
        _fail(f"cannot write the report: {exc}", "--output")
    click.echo(f"report: {written}")


# --------------------------------------------------------------------------- probe
_TORCH_MODULES = ("RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell")

_PROBE_EPILOG = """\b
A saved model is either
  * a checkpoint: torch.save({"spec": SPEC, "state_dict": module.state_dict()}, "model.pt")
  * a bare state_dict file, with SPEC in a JSON file given by --spec
where SPEC is {"module": "LSTM", "kwargs": {"input_size": 3, "hidden_size": 32, "num_layers": 2}}
(module: RNN, GRU, LSTM, RNNCell, GRUCell or LSTMCell of torch.nn) or
{"arch": "gru", "hidden_size": 32, "input_size": 3, "options": {"update_bias": 1.0}} (an
rnnprobe architecture). Files are loaded with torch.load(weights_only=True); a pickled
module (torch.save(model)) is refused unless you pass --trust-pickle, because unpickling
runs arbitrary code: pass it only for files you trust.
"""


def _explicit(ctx, name) -> bool:
    return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)


def _build_from_spec(spec, state, *, layer, direction, dtype, option):
    import torch

    import rnnprobe

    if isinstance(spec, dict) and "charrnn" in spec:      # a char-RNN checkpoint (rnnprobe train): its core
        from rnnprobe.sequence.checkpoint import charrnn_from_checkpoint

        try:
            charrnn = charrnn_from_checkpoint(spec, state, name="the checkpoint")
            return charrnn.core_model(layer, dtype=dtype)
        except rnnprobe.InvalidArgument as exc:
            _fail(str(exc), option)
    if not isinstance(spec, dict) or ("module" in spec) == ("arch" in spec):
        _fail(f"the spec must be a dict with a 'module' (torch.nn RNN/GRU/LSTM/cell) or an 'arch' (rnnprobe) "
              f"entry; got {spec!r}", option)
    try:
        if "module" in spec:
            kind = str(spec["module"]).removeprefix("torch.nn.")
            if kind not in _TORCH_MODULES:
                _fail(f"spec module must be one of {', '.join(_TORCH_MODULES)}; got {spec['module']!r}", option)
            module = getattr(torch.nn, kind)(**dict(spec.get("kwargs", {})))
            module.load_state_dict(state)
            if kind.endswith("Cell"):
                return rnnprobe.adapt(module, dtype=dtype)
            return rnnprobe.adapt(module, layer, direction=direction, dtype=dtype)
        arch = spec["arch"]
        if arch not in rnnprobe.architectures.recurrent():
            rnnprobe.architectures[arch]  # unknown: raises with a suggestion
            _fail(f"spec arch must be a recurrent architecture ({', '.join(rnnprobe.architectures.recurrent())}); "
                  f"got {arch!r}", option)
        model = rnnprobe.build(arch, spec.get("hidden_size", 32), spec.get("input_size", 1), dtype=dtype,
                               **dict(spec.get("options", {})))
        model.load_state_dict(state)
        return model
    except click.BadParameter:
        raise
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        _fail(f"cannot build the model from spec {spec!r}: {type(exc).__name__}: {exc}", option)


def _load_user_model(path: Path, spec_path: Path | None, *, layer, direction, trust_pickle, dtype):
    import pickle

    import torch

    import rnnprobe

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch refuses non-tensor globals ("Unsupported global: GLOBAL …") and blocked modules such as
        # os or sys ("Trying to load unsupported GLOBAL os.system …"): both are refusals for safety
        pickled_objects = "unsupported global" in str(exc).lower()
        if not trust_pickle:
            if pickled_objects:
                _fail(f"{str(path)!r} holds pickled Python objects, not only tensors (torch.load(weights_only=True) "
                      "refused it); unpickling runs arbitrary code, so it is refused. Save a checkpoint "
                      "{'spec': ..., 'state_dict': ...} instead, or pass --trust-pickle if you trust the file",
                      "--model")
            _fail(f"{str(path)!r} is not a file torch.load(weights_only=True) can read (not saved by torch.save?)",
                  "--model")
        log.warning("--trust-pickle: unpickling %s with weights_only=False", path)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001 - unreadable file
            _fail(f"{str(path)!r} is not a file torch.load can read: {type(exc2).__name__}: {exc2}", "--model")
    except Exception as exc:  # noqa: BLE001 - unreadable file
        _fail(f"{str(path)!r} is not a file torch.load can read: {type(exc).__name__}: {exc}", "--model")

    if isinstance(obj, torch.nn.Module):
        if isinstance(obj, rnnprobe.StepModel):
            return obj.to(dtype)
        try:
            return rnnprobe.adapt(obj, layer, direction=direction, dtype=dtype)
        except rnnprobe.InvalidArgument as exc:
            _fail(f"the pickled module cannot be probed: {exc}", "--model")
    if not isinstance(obj, dict):
        _fail(f"{str(path)!r} must hold a checkpoint dict or a state_dict; got {type(obj).__name__}", "--model")
    if spec_path is not None:
        try:
            spec = json.loads(spec_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _fail(f"{str(spec_path)!r} is not a JSON spec: {exc}", "--spec")
        state = obj.get("state_dict", obj)
        return _build_from_spec(spec, state, layer=layer, direction=direction, dtype=dtype, option="--spec")
    if "spec" not in obj or "state_dict" not in obj:
        _fail(f"{str(path)!r} is a bare state_dict: give its architecture with --spec SPEC.json "
              "(or save {'spec': ..., 'state_dict': ...})", "--model")
    return _build_from_spec(obj["spec"], obj["state_dict"], layer=layer, direction=direction, dtype=dtype,
                            option="--model")


def _finite(ctx, param, value):
    """click callback: FloatRange lets NaN through (every comparison with NaN is false)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number; got {value!r}")
    return value


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (numpy's MemoryError, torch's "can't allocate memory")."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "can't allocate memory" in text or "out of memory" in text


def _physical_memory() -> float:
    """Bytes of physical memory (inf where the platform does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


_MEMORY_HINT = "(use a smaller --hidden or --length)"


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@main.command("probe", epilog=_PROBE_EPILOG)
@click.argument("arch", required=False)
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A saved PyTorch model (see below) instead of ARCH.")
@click.option("--spec", "spec_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON architecture spec for a bare state_dict.")
@click.option("--layer", type=click.IntRange(min=0), default=0, show_default=True,
              help="Layer of a multi-layer torch module to probe.")
@click.option("--direction", type=click.IntRange(0, 1), default=0, show_default=True,
              help="1: the backward direction of a bidirectional module.")
@click.option("--trust-pickle", is_flag=True, help="Allow unpickling arbitrary objects (only for trusted files).")
@click.option("--hidden", type=click.IntRange(min=1), default=32, show_default=True, help="Hidden size (ARCH).")
@click.option("--gain", type=click.FloatRange(min=0), default=1.0, show_default=True, callback=_finite,
              help="Gain (ARCH).")
@click.option("--init", type=click.Choice(["gaussian", "orthogonal", "spectral"]), default="orthogonal",
              show_default=True, help="Initialisation (ARCH).")
@click.option("--seed", type=click.IntRange(min=0, max=2**64 - 1), default=0, show_default=True,
              help="Seed of the weights (ARCH) and of the inputs.")
@click.option("--length", type=click.IntRange(min=2), default=200, show_default=True,
              help="Length T of the random N(0, 1) input sequence (without --inputs).")
@click.option("--inputs", "inputs_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your inputs instead of random ones: a tensor saved with torch.save (X.pt) or numpy.save "
                   "(X.npy), (T, d) or (T, B, d); (B, T, d) with --batch-first.")
@click.option("--batch-first", is_flag=True, default=None,
              help="--inputs are (B, T, d)  [default: the model's own layout: time-major unless its module "
                   "was built with batch_first=True].")
@click.option("--eps", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01, show_default=True,
              callback=_finite, help="Threshold of the memory length on G(k).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def probe_command(ctx, arch, model_path, spec_path, layer, direction, trust_pickle, hidden, gain, init, seed, length,
                  inputs_path, batch_first, eps, dtype, as_json):
    """Probe one model: memory length, spectral norm and radius of W_h, Pascanu verdict, top Lyapunov
    exponent, and what sets the decay of its gradients (rnnprobe.diagnose).

    ARCH is a built-in recurrent architecture (e.g. vanilla-tanh, gru, lstm); or give
    --model FILE, a saved PyTorch model. The model is driven by your --inputs, or by T
    random N(0, 1) inputs from --seed, starting from the zero state. A trained model's
    memory depends on its inputs: probe it on the inputs of its task.
    """
    if (arch is None) == (model_path is None):
        raise click.UsageError("give either ARCH (a built-in architecture) or --model FILE, not "
                               + ("both" if arch else "neither"))
    if arch is not None:
        for opt in ("spec_path", "trust_pickle", "layer", "direction"):
            if _explicit(ctx, opt):
                _fail("applies to --model only", "--" + opt.replace("_path", "").replace("_", "-"))
    else:
        for opt in ("hidden", "gain", "init"):
            if _explicit(ctx, opt):
                _fail("applies to a built-in ARCH only (a saved model has its own)", "--" + opt)
    if inputs_path is not None and _explicit(ctx, "length"):
        _fail("applies to the random inputs only (--inputs have their own length)", "--length")
    if inputs_path is None and batch_first:
        _fail("applies to --inputs only (the random inputs are generated time-major)", "--batch-first")

    import rnnprobe.studies._probes as probes

    import rnnprobe

    torch_dtype = probes.dtype_of(dtype)
    if arch is not None:
        if arch not in rnnprobe.architectures:
            from rnnprobe._validation import nearest

            hint = nearest(arch, rnnprobe.architectures.recurrent())
            _fail(f"unknown architecture {arch!r}; recurrent ones: {', '.join(rnnprobe.architectures.recurrent())}"
                  + (f" (did you mean {hint!r}?)" if hint else ""), "ARCH")
        if rnnprobe.architectures[arch].kind != "recurrent":
            _fail(f"{arch!r} is a feed-forward stack; probe takes recurrent architectures "
                  f"({', '.join(rnnprobe.architectures.recurrent())}); try 'rnnprobe study depth'", "ARCH")
        weights = hidden * hidden * torch_dtype.itemsize            # W_h alone, a lower bound
        if weights > _physical_memory():
            _fail(f"{hidden} needs more memory than this machine has for its weights (W_h alone: {weights:.3g} "
                  f"bytes, of {_physical_memory():.3g})", "--hidden")
        try:
            model = rnnprobe.build(arch, hidden, 1, gain=gain, init=init, seed=seed, dtype=torch_dtype)
        except (MemoryError, RuntimeError) as exc:
            if not _out_of_memory(exc):
                raise
            _fail(f"{hidden} needs more memory than this machine has for its weights ({type(exc).__name__})", "--hidden")
        source = f"{arch} (hidden {hidden}, gain {gain:g}, init {init}, seed {seed})"
    else:
        model = _load_user_model(model_path, spec_path, layer=layer, direction=direction,
                                 trust_pickle=trust_pickle, dtype=torch_dtype)
        source = str(model_path) + (f" ({model.source})" if getattr(model, "source", None) else "")
    if model.kind != "recurrent":
        _fail(f"the model must be recurrent; got {model.kind!r}", "--model")
    # the inputs the model reads: an adapted upper layer of a torch module reads the module's inputs
    lower = getattr(model, "lower", None)
    input_size = lower.input_size if lower is not None else model.input_size
    option = "--inputs" if inputs_path is not None else "--length"
    if inputs_path is not None:
        x = _load_inputs(inputs_path)
        if batch_first and x.ndim != 3:
            _fail(f"applies to batched inputs (B, T, d); --inputs {str(inputs_path)!r} has shape {tuple(x.shape)}",
                  "--batch-first")
        described = f"{inputs_path.name}, shape {tuple(x.shape)}"
    else:
        x = probes.sequence(seed, length, input_size, torch_dtype)
        described = f"N(0, 1), seed {seed}"
    try:
        diagnosis = rnnprobe.diagnose(model, x, batch_first=batch_first, eps=eps)
    except rnnprobe.InvalidArgument as exc:
        _fail(str(exc), option)
    except (MemoryError, RuntimeError) as exc:
        if _out_of_memory(exc):
            raise click.UsageError(f"probing this model on these inputs needs more memory than this machine "
                                   f"has {_MEMORY_HINT}; {type(exc).__name__}") from exc
        if isinstance(exc, MemoryError):
            raise
        # a user's module that does not run
        raise click.ClickException(f"the model failed on its inputs: {exc}") from exc
    _print_probe(diagnosis, model, source, described, eps, seed, as_json)


def _load_inputs(path: Path):
    """The tensor saved in ``path`` (torch.save, or numpy.save for .npy), loaded without unpickling objects."""
    import numpy as np
    import torch

    try:
        if path.suffix.lower() == ".npy":
            x = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            x = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unreadable file
        _fail(f"{str(path)!r} is not a tensor file torch.load(weights_only=True) or numpy.load(allow_pickle=False) "
              f"can read: {type(exc).__name__}: {exc}", "--inputs")
    if not isinstance(x, torch.Tensor):
        _fail(f"{str(path)!r} must hold one tensor (T, d), (T, B, d) or (B, T, d); got {type(x).__name__}", "--inputs")
    return x


def _print_probe(d, model, source: str, described: str, eps: float, seed: int, as_json: bool) -> None:
    """The probe command's table (or JSON) of a Diagnosis."""
    import statistics

    spec = d.spectrum
    mem = d.memory
    med = lambda name: statistics.median(getattr(m, name) for m in mem)  # noqa: E731
    censored = sum(m.threshold_censored for m in mem)
    result = {
        "model": source, "name": model.name, "hidden_size": model.hidden_size, "input_size": model.input_size,
        "state_size": model.state_size, "state": d.state, "inputs": described, "length": d.length,
        "batch_size": d.batch_size, "eps": eps, "seed": seed,
        "memory_threshold": med("threshold"), "memory_threshold_censored": censored == len(mem),
        "memory_efold": med("efold"), "efold_slope": med("slope"),
        "lyapunov_exponent": med("lyapunov_exponent"), "lyapunov_time": med("lyapunov_time"),
        "sigma_max": spec.sigma_max, "sigma_max_block": spec.largest_block,
        "spectral_radius": d.spectral_radius, "spectral_radius_block": d.spectral_radius_block,
        "gamma": spec.gamma, "pascanu": spec.pascanu, "pascanu_explanation": spec.explanation,
        "decay_rate": d.rate, "decay_parts": d.parts, "dominant": d.dominant, "cause": d.cause, "remedy": d.remedy,
    }
    if len(mem) > 1:
        result["per_sequence"] = [{"memory_threshold": m.threshold, "memory_threshold_censored": m.threshold_censored,
                                   "memory_efold": _json_safe(m.efold), "lyapunov_exponent": m.lyapunov_exponent}
                                  for m in mem]
    if as_json:
        click.echo(json.dumps({k: ({kk: _json_safe(vv) for kk, vv in v.items()} if isinstance(v, dict) else _json_safe(v))
                               for k, v in result.items()}, indent=1))
        return
    over = f" (median over {len(mem)} sequences)" if len(mem) > 1 else ""
    cens = (" (censored: all lags pass)" if censored == len(mem) else
            f" (censored for {censored} of {len(mem)} sequences)" if censored else "")
    batch = f" × {d.batch_size} sequences" if d.batch_size > 1 else ""
    threshold = med("threshold")
    lines = [
        ("model", f"{source}: {model.name}, hidden {model.hidden_size}, input {model.input_size}, "
                  f"state {model.state_size} ({d.state})"),
        ("inputs", f"T = {d.length} steps{batch} of {described}"),
        ("memory length", f"{threshold:g} steps at eps = {eps:g}{cens}{over}"),
        ("e-folding time", f"{med('efold'):.4g} steps (slope {med('slope'):.4g} per step){over}"),
        ("Lyapunov time", f"{med('lyapunov_time'):.4g} steps{over}"),
        ("top Lyapunov exp.", f"{med('lyapunov_exponent'):.4g} per step{over}"),
        ("sigma_max(W_h)", f"{spec.sigma_max:.4g}" + (f" (block {spec.largest_block})" if len(spec.blocks) > 1 else "")),
        ("spectral radius", "n/a" if d.spectral_radius is None else f"{d.spectral_radius:.4g}"
         + (f" (block {d.spectral_radius_block})" if len(spec.blocks) > 1 else "")),
        ("Pascanu verdict", f"{spec.pascanu}: {spec.explanation}"),
        ("cause", d.cause),
    ] + ([("remedy", d.remedy)] if d.remedy else [])
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key:<{width}}  {value}")


# --------------------------------------------------------------------------- train, sample
# The char-RNN commands (rnnprobe.sequence): each parses its options and calls one function.
_SEQUENCE_OPTIONS = {"core": "--arch", "hidden_size": "--hidden", "embedding_size": "--embedding",
                     "num_layers": "--layers", "steps": "--steps", "batch_size": "--batch", "bptt": "--bptt",
                     "lr": "--lr", "clip": "--clip", "seed": "--seed", "eval_every": "--eval-every",
                     "probe_every": "--probe-every", "checkpoint_every": "--checkpoint-every",
                     "probe_length": "--probe-length", "lyapunov_k": "--lyapunov-k", "floss": "--floss",
                     "floss_weight": "--floss-weight", "floss_before": "--floss-before", "max_chars": "--max-chars",
                     "temperature": "--temperature", "length": "--length", "prime": "--prime",
                     "option": "--option", "options": "--option", "char-RNN": "--option",
                     "the training text": "--text", "the validation text": "--text", "the vocabulary": "--text",
                     "directory": "--out", "the run's checkpoint": "--out"}


def _invalid(exc, core_options=()) -> None:
    """Turn an InvalidArgument into a usage error on the option its message names (exit 2)."""
    message = str(exc)
    first = message.split(" ", 1)[0]
    if first in core_options:                                # a bad value of a core option
        _fail(message, "--option")
    for name, option in _SEQUENCE_OPTIONS.items():
        if first == name or (" " in name and message.startswith(name)):
            _fail(message, option)
    raise click.UsageError(message)


def _parse_option(text: str):
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        _fail(f"expected KEY=VALUE; got {text!r}", "--option")
    raw = raw.strip()
    for convert in (int, float):
        try:
            return key.strip(), convert(raw)
        except ValueError:
            pass
    return key.strip(), {"true": True, "false": False, "none": None}.get(raw.lower(), raw)


@main.command("train")
@click.option("--text", type=click.Path(dir_okay=False, path_type=Path),
              help="A UTF-8 text file  [default: the Python standard library's own sources]")
@click.option("--out", type=NonEmptyPath(file_okay=False, path_type=Path),
              help="Run directory  [default: ./rnnprobe-results/train-ARCH]")
@click.option("--arch", default="lstm", show_default=True,
              help="The core: a recurrent architecture (rnnprobe.architectures) or nn.RNN, nn.GRU, nn.LSTM.")
@click.option("--hidden", type=int, default=128, show_default=True, help="Hidden size of each core layer.")
@click.option("--layers", type=int, default=1, show_default=True, help="Stacked core layers.")
@click.option("--embedding", type=int, default=32, show_default=True, help="Character embedding size.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="An option of the core, e.g. --option forget_bias=1 or --option init=orthogonal (repeatable).")
@click.option("--steps", type=int, default=1000, show_default=True, help="Optimizer updates N.")
@click.option("--batch", type=int, default=32, show_default=True, help="Parallel text streams per step.")
@click.option("--bptt", type=int, default=64, show_default=True, help="Characters per stream per step (truncation).")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Adam's learning rate.")
@click.option("--clip", type=float, default=1.0, show_default=True, help="Clip the gradient norm to this; 0: off.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initial weights.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--eval-every", type=int, default=100, show_default=True, help="Steps between validation bits/char.")
@click.option("--probe-every", type=int, default=100, show_default=True, help="Steps between monitor probes.")
@click.option("--checkpoint-every", type=int, default=100, show_default=True, help="Steps between checkpoints.")
@click.option("--probe-length", type=int, default=200, show_default=True, help="Length of the probe sequence.")
@click.option("--lyapunov-k", type=int, default=4, show_default=True, help="Lyapunov exponents the monitor records.")
@click.option("--floss", type=int, default=0, show_default=True,
              help="Gradient flossing: push the top K Lyapunov exponents towards 0 (0: off).")
@click.option("--floss-weight", type=float, default=0.1, show_default=True, help="Weight of the flossing term.")
@click.option("--floss-before", type=int, default=0, show_default=True,
              help="Steps of flossing alone before training.")
@click.option("--max-chars", type=int, help="Use only the first N characters of the text.")
def train_command(text, out, arch, hidden, layers, embedding, options, steps, batch, bptt, lr, clip, seed, dtype,
                  eval_every, probe_every, checkpoint_every, probe_length, lyapunov_k, floss, floss_weight,
                  floss_before, max_chars):
    """Train a char-RNN on a text by maximum likelihood; probe it as it learns.

    Writes OUT/model.pt (the latest checkpoint, {"spec", "state_dict", "vocab"}:
    'rnnprobe probe --model OUT/model.pt' and 'rnnprobe sample OUT/model.pt' read it),
    OUT/monitor.csv (tidy rows: validation bits/char, G(k), memory length, sigma_max,
    Lyapunov exponents, loss, gradient norms, per step) and OUT/meta.json. Started
    again with the same options, a run resumes from its latest checkpoint.
    """
    from rnnprobe._validation import check_output_directory
    from rnnprobe.errors import InvalidArgument
    from rnnprobe.sequence import TrainConfig, load_corpus, train

    core_options = dict(_parse_option(o) for o in options)
    try:
        config = TrainConfig(core=arch, hidden_size=hidden, embedding_size=embedding, num_layers=layers,
                             options=core_options, seed=seed, dtype=dtype, steps=steps, batch_size=batch, bptt=bptt,
                             lr=lr, clip=clip if clip != 0 else None, eval_every=eval_every,
                             probe_every=probe_every, checkpoint_every=checkpoint_every, probe_length=probe_length,
                             lyapunov_k=lyapunov_k, floss=floss, floss_weight=floss_weight, floss_before=floss_before)
        corpus = load_corpus(text, max_chars=max_chars, name="--text")
    except InvalidArgument as exc:
        if text is not None and str(exc).startswith("--text"):
            _fail(str(exc).removeprefix("--text "), "--text")
        _invalid(exc, core_options)
    out = Path("rnnprobe-results") / f"train-{arch}" if out is None else out
    try:
        check_output_directory("--out", out)
    except InvalidArgument as exc:
        _fail(str(exc), "--out")
    bar, last = None, {"loss": math.nan}
    if _progress_enabled():
        bar = click.progressbar(length=steps, label=f"train {arch}", show_eta=True, show_pos=True, file=sys.stderr,
                                item_show_func=lambda _: f"loss {last['loss']:.3f}")
        bar.__enter__()

    def progress(step, loss):
        last["loss"] = loss
        if bar is not None:
            bar.update(step - bar.pos)

    try:
        result = train(config, out, corpus=corpus, progress=progress)
    except InvalidArgument as exc:
        if bar:
            bar.__exit__(None, None, None)
        _invalid(exc, core_options)
    except KeyboardInterrupt:
        if bar:
            bar.__exit__(None, None, None)
        click.echo(f"\ninterrupted: the latest checkpoint is in {out}; run the same command again to resume", err=True)
        sys.exit(130)
    if bar:
        bar.__exit__(None, None, None)
    resumed = f", resumed from step {result.resumed_from}" if result.resumed_from else ""
    click.echo(f"train {arch}: {result.step} steps in {result.elapsed_s:.1f} s{resumed}; validation "
               f"{result.val_bits_per_char:.3f} bits/char -> {out}/model.pt, monitor.csv ({len(result.rows)} rows), "
               "meta.json")


@main.command("sample")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--length", type=int, default=400, show_default=True, help="Characters to generate.")
@click.option("--temperature", type=float, default=0.8, show_default=True,
              help="> 0; below 1 sharpens the model's distribution, above 1 flattens it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draws.")
@click.option("--prime", help="Text the model reads first (printed before the sample)  [default: a newline]")
def sample_command(checkpoint, length, temperature, seed, prime):
    """Sample text from a char-RNN checkpoint (a run directory or its model.pt)."""
    from rnnprobe.errors import InvalidArgument
    from rnnprobe.sequence import load_checkpoint, sample

    path = checkpoint / "model.pt" if checkpoint.is_dir() else checkpoint
    try:
        model, vocab, _ = load_checkpoint(path, name="CHECKPOINT")
        text = sample(model, vocab, length, temperature=temperature, seed=seed, prime=prime)
    except InvalidArgument as exc:
        if str(exc).startswith("CHECKPOINT"):
            _fail(str(exc).removeprefix("CHECKPOINT "), "CHECKPOINT")
        _invalid(exc)
    click.echo((prime or "") + text)


if __name__ == "__main__":  # pragma: no cover
    main()

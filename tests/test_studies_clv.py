"""The vanishing study's covariant-Lyapunov-vector angles: rows against rnnprobe's CLVs, the analysis series, the figure."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import rnnprobe
from rnnprobe import analysis, studies
from rnnprobe.studies._probes import CLV_ANGLE_POINTS, clv_angle_rows, clv_directions, sequence

STUDY = studies.load("vanishing")


def _point(arch, length=120, gain=1.0, seed=0):
    return dict(arch=arch, hidden=5, length=length, depth=None, gain=gain, seed=seed, init="orthogonal")


@pytest.mark.parametrize("arch", ["vanilla-tanh", "lstm", "dense"])
def test_rows_are_the_covariant_vectors_angles_at_their_states(arch):
    point = _point(arch)
    rows, summary = STUDY.module.probe(point)
    angles = [r for r in rows if r[0] == "clv_angle"]
    assert 2 <= len(angles) <= CLV_ANGLE_POINTS
    # the same trajectory, its covariant vectors computed here: the row at lag T - t holds the angle at state t
    model = STUDY.module.build_model(point)
    traj = rnnprobe.record(model, sequence(0, point["length"], 1))
    lam = rnnprobe.trajectory_lyapunov_spectrum(traj)
    split = max(1, int((lam > 0).sum()))                   # the unstable directions, and the next 8 (all when fewer)
    clv = rnnprobe.trajectory_covariant_lyapunov_vectors(traj, min(traj.state_size, split + 8), split=split, seed=0)
    by_time = dict(zip(clv.times.tolist(), clv.angles.tolist()))
    for _, lag, layer, index, block, value in angles:
        assert layer is index is block is None
        assert value == pytest.approx(by_time[point["length"] - lag], rel=1e-12, abs=1e-15)
        assert 0.0 <= value <= math.pi / 2
    assert summary["clv_min_angle"] == pytest.approx(min(by_time.values()), rel=1e-12)
    assert summary["clv_min_angle"] <= min(r[-1] for r in angles)
    lags = [r[1] for r in angles]
    assert lags == sorted(lags, reverse=True) and len(set(lags)) == len(lags)      # evenly spaced states, in order


def test_dead_relu_units_leave_the_annihilated_directions_out():
    traj = rnnprobe.record(rnnprobe.build("vanilla-relu", 12, 1, gain=0.5, init="orthogonal", seed=0),
                           sequence(0, 200, 1))
    lam = rnnprobe.trajectory_lyapunov_spectrum(traj)
    assert not bool(np.isfinite(lam.numpy()).all())                 # some units are stuck at zero here
    with pytest.raises(rnnprobe.InvalidArgument, match="no step annihilates"):
        rnnprobe.trajectory_covariant_lyapunov_vectors(traj)
    rows, summary = clv_angle_rows(traj)
    assert rows and np.isfinite(summary["clv_min_angle"])
    assert clv_directions(lam)[0] <= int(np.isfinite(lam.numpy()).sum())


def test_too_short_a_trajectory_gives_no_rows_and_an_empty_angle():
    traj = rnnprobe.record(rnnprobe.build("gru", 3, 1, seed=0), sequence(0, 2, 1))
    rows, summary = clv_angle_rows(traj)
    assert rows == [] and summary["clv_min_angle"] is None        # written empty to summary.csv, never 'nan'


def test_the_series_at_the_longest_length_and_its_caption():
    from rnnprobe.reports import captions

    records, summaries = [], []
    for length in (40, 90):
        for seed in (0, 1):
            point = _point("gru", length=length, seed=seed)
            rows, summary = STUDY.module.probe(point)
            records += [dict(point, study="vanishing", metric=m, lag=lag, value=v) for m, lag, *_, v in rows
                        if m == "clv_angle"]
            summaries.append(dict(point, study="vanishing", **summary))
    series = analysis.clv_angle_series(pd.DataFrame(records))
    assert set(series["length"]) == {90} and set(series["seed"]) == {0, 1}
    assert (series["time"] == 90 - pd.DataFrame(records).query("length == 90")["lag"].to_numpy()).all()
    caption = captions.hyperbolicity_caption(series, pd.DataFrame(summaries))
    lowest = min(s["clv_min_angle"] for s in summaries if s["length"] == 90)
    assert f"the smallest of all is {np.degrees(lowest):.2g}°" in caption
    assert "median over 2 seeds" in caption

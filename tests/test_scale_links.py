"""Sparse channel links (issue 16 part 2): link generation, validation, npz/JSON round trips,
and the offloading assignment on sparse scenarios (same optimum as dense)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.backend import SolveOptions
from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading import OffloadingSpec


def test_links_are_the_nearest_servers() -> None:
    dense = ao.Scenario.generate(300, 25, 4, seed=1)
    sparse = ao.Scenario.generate(300, 25, 4, seed=1, links=5)
    assert sparse.is_sparse and sparse.channel_gain is None
    assert sparse.link_server is not None and sparse.link_server.shape == (300, 5)
    nearest = np.sort(np.argsort(dense.distance_m, axis=1)[:, :5], axis=1)
    np.testing.assert_array_equal(sparse.link_server, nearest)
    np.testing.assert_array_equal(sparse.user_position_m, dense.user_position_m)


def test_links_capped_at_servers_and_entries_counted_per_link() -> None:
    s = ao.Scenario.generate(10, 2, 3, seed=0, links=5)
    assert s.link_server is not None and s.link_server.shape == (10, 2)
    with pytest.raises(ValidationError, match="n_users\\*links"):
        ao.Scenario.generate(1000, 4000, 3, links=20, max_entries=10_000)
    # 1000 users x 4000 servers would be refused densely; 5 links each are fine
    ao.Scenario.generate(1000, 4000, 3, links=5, max_entries=10_000)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_and_dense_give_the_same_optimum(seed: int) -> None:
    dense = ao.Scenario.generate(50, 4, 5, seed=seed)
    full = ao.solve(dense, OffloadingSpec(), "highs", mip_gap=1e-9)
    same = ao.solve(dense.sparse(), OffloadingSpec(), "highs", mip_gap=1e-9)
    assert same.verified and same.objective == pytest.approx(full.objective, rel=1e-9)
    # k links == k candidate servers of the dense scenario
    cand = ao.solve(dense, OffloadingSpec(candidate_servers=2), "highs", mip_gap=1e-9)
    linked = ao.solve(dense.sparse(2), OffloadingSpec(), "highs", mip_gap=1e-9)
    assert linked.verified and linked.objective == pytest.approx(cand.objective, rel=1e-9)
    lag = ao.run_method(dense.sparse(2), OffloadingSpec(), "lagrangian",
                        options=SolveOptions(mip_gap=1e-9))
    assert lag.verified and lag.objective == pytest.approx(cand.objective, rel=1e-7)


def test_sparse_breaks_gain_ties_like_top_servers() -> None:
    # tied gains: sparse(k) keeps the lower server index, as top_servers and candidate_servers do
    gains = np.array([[2e-10, 2e-10, 3e-10, 3e-10, 2e-10], [1e-9, 1e-9, 1e-9, 1e-9, 1e-9]])
    scn = ao.Scenario.generate(2, 5, 1, seed=0).replace(channel_gain=gains)
    for k in (1, 2, 3, 4):
        np.testing.assert_array_equal(scn.sparse(k).link_server,
                                      np.sort(scn.top_servers(k), axis=1))
    fast = scn.replace(server_compute_flops=np.array([1e15, 1e12, 1e12, 1e12, 1e12]),
                       request_deadline_s=np.array([1e5, 1e5]))
    edge = OffloadingSpec(allow_local=False, allow_cloud=False)
    cand = ao.solve(fast, OffloadingSpec(candidate_servers=3, allow_local=False,
                                         allow_cloud=False), "highs", mip_gap=1e-9)
    linked = ao.solve(fast.sparse(3), edge, "highs", mip_gap=1e-9)
    assert cand.verified and linked.verified
    assert linked.objective == pytest.approx(cand.objective, rel=1e-9)


def test_heuristics_run_on_sparse_scenarios() -> None:
    scn = ao.Scenario.generate(40, 9, 4, seed=3, links=3)
    for name in ("greedy_latency", "all_edge_nearest", "all_local", "random"):
        res = ao.run_heuristic(scn, OffloadingSpec(), name)
        assert res.metrics is not None


@pytest.mark.parametrize("suffix", [".npz", ".json"])
@pytest.mark.parametrize("links", [None, 3])
def test_round_trip_is_exact(tmp_path: Path, suffix: str, links: int | None) -> None:
    scn = ao.Scenario.generate(30, 9, 4, seed=4, links=links)
    path = tmp_path / f"scn{suffix}"
    scn.save(path)
    back = ao.Scenario.load(path)
    assert back == scn and back.digest() == scn.digest()


@pytest.mark.parametrize("damage", ["not-a-zip", "truncated", "crc", "npy", "bad-member"])
def test_bad_npz_names_the_path(tmp_path: Path, damage: str) -> None:
    """Each damaged archive is refused by path (BadZipFile, TypeError and AttributeError
    escaped before)."""
    good = tmp_path / "good.npz"
    ao.Scenario.generate(3, 2, 2, seed=0).save(good)
    raw = good.read_bytes()
    path = tmp_path / "bad.npz"
    if damage == "not-a-zip":
        path.write_bytes(b"not a zip")
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "crc":
        flipped = bytearray(raw)
        flipped[400] ^= 0x55
        path.write_bytes(bytes(flipped))
    elif damage == "npy":
        with path.open("wb") as fh:
            np.save(fh, np.arange(3))
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("request_steps.npy", b"garbage")
    with pytest.raises(ValidationError, match="bad.npz"):
        ao.Scenario.load(path)


def test_dense_and_sparse_conversions() -> None:
    scn = ao.Scenario.generate(20, 3, 4, seed=1)
    sp = scn.sparse()
    assert sp.dense() == scn and sp.digest() != scn.digest()
    two = scn.sparse(2)
    with pytest.raises(ValidationError, match="link_server"):
        two.dense()
    users = np.arange(20)
    for s in range(3):
        g = two.gain_at(users, np.full(20, s))
        heard = (two.link_server == s).any(axis=1)  # type: ignore[union-attr]
        np.testing.assert_array_equal(g[heard], scn.channel_gain[heard, s])
        assert (g[~heard] == 0).all()
    np.testing.assert_array_equal(two.best_server, scn.best_server)
    sub = two.subset(np.arange(5))
    assert sub.link_server is not None and sub.link_server.shape == (5, 2)


def test_channel_forms_are_validated() -> None:
    scn = ao.Scenario.generate(6, 3, 2, seed=0)
    sp = scn.sparse(2)
    assert sp.link_server is not None and sp.link_gain is not None
    with pytest.raises(ValidationError, match="not both"):
        sp.replace(channel_gain=scn.channel_gain)
    with pytest.raises(ValidationError, match="link_gain.*missing"):
        sp.replace(link_gain=None)
    with pytest.raises(ValidationError, match="increasing"):
        sp.replace(link_server=sp.link_server[:, ::-1])
    with pytest.raises(ValidationError, match="unknown server"):
        sp.replace(link_server=sp.link_server + 5)
    with pytest.raises(ValidationError, match="link_gain"):
        sp.replace(link_gain=-sp.link_gain)
    d = scn.to_dict()
    del d["channel_gain"]
    with pytest.raises(ValidationError, match="channel_gain.*missing"):
        ao.Scenario.from_dict(d)

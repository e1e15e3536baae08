"""`--scheduler`: option errors are one line, and the numbers of a sweep do not depend
on where its tasks run (threads, spawned processes, a Dask cluster)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from numerics.rng import default_workers
from sigprop import registry
from sigprop.calibrate import calibrate
from sigprop.cli import main
from sigprop.figures import Simulation, point_seeds
from sigprop.harness import verify_claims
from sigprop.scheduler import Scheduler, parse_scheduler, submission_order

CHEAP = "forward.attention-gram-update"  # derives and calibrates in well under a second
#: statements whose quick audit takes about a second each (an exact holds, a zero, a
#: counterexample with its Monte Carlo)
STATEMENTS = ("noci2022.lemma-skip", "noci2022.thm-vanishing-gradients",
              "noci2022.lemma-gradients.keys")


@pytest.mark.parametrize("value, needle", [
    ("gpu", "--scheduler must be threads, processes, dask or tcp://HOST:PORT, got 'gpu'"),
    ("Threads", "got 'Threads'"),
    ("tcp://", "--scheduler address must be tcp://HOST:PORT"),
    ("tcp://localhost", "--scheduler address must be tcp://HOST:PORT"),
    ("tcp://:8786", "--scheduler address must be tcp://HOST:PORT"),
    ("tcp://host:port", "--scheduler port must be an integer in [1, 65535], got 'port'"),
    ("tcp://host:70000", "got '70000'"),
])
@pytest.mark.parametrize("command", ["calibrate", "figures", "audit", "verify"])
def test_bad_scheduler_is_one_line_exit_2(command, value, needle, capsys, tmp_path) -> None:
    extra = ["--out", str(tmp_path / "out")] if command == "figures" else []
    assert main([command, *extra, "--scheduler", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sigprop: error: "), err
    assert needle in err


@pytest.mark.parametrize("value", ["threads", "processes", "dask", "tcp://10.0.0.5:8786",
                                   "tcp://[::1]:8786", "tcp://scheduler.example:1"])
def test_good_scheduler_values_pass(value) -> None:
    pytest.importorskip("distributed")
    assert parse_scheduler(value) == value


@pytest.mark.parametrize("value", ["dask", "tcp://127.0.0.1:8786"])
def test_dask_without_the_extra_says_how_to_install_it(value, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # find_spec: not installed
    assert parse_scheduler("processes") == "processes"
    assert main(["calibrate", "--claim", CHEAP, "--scheduler", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[distributed]'" in err, err


def _slow_identity(x: int) -> int:
    time.sleep(0.05 * x)
    return x


def test_map_keeps_item_order_and_reports_each_completion() -> None:
    items = [4, 3, 2, 1, 0]  # complete in the reverse of submission order
    seen = []
    with Scheduler("threads") as pool:
        assert pool.map(_slow_identity, items, done=seen.append) == items
    assert sorted(seen) == sorted(items) and seen != items


def test_the_costliest_items_are_submitted_first_and_results_keep_item_order() -> None:
    items = [0, 3, 1, 3, 2]
    assert submission_order(items, None) == [0, 1, 2, 3, 4]
    assert submission_order(items, float) == [1, 3, 4, 2, 0]  # ties keep their order
    with Scheduler("threads") as pool:
        assert pool.map(_slow_identity, items, cost=float) == items


def _threads_here(_: object) -> int:
    return default_workers()


def test_a_pool_worker_runs_its_monte_carlo_on_one_thread() -> None:
    with Scheduler("processes") as pool:
        assert pool.map(_threads_here, [0, 1]) == [1, 1]
    assert default_workers() == min(8, os.cpu_count() or 1)  # this process keeps its own


def test_map_outside_its_with_block_is_a_bug_not_a_silent_serial_run() -> None:
    with pytest.raises(RuntimeError, match="with-block"):
        Scheduler("threads").map(_slow_identity, [0])


def _calibration(scheduler: str) -> dict:
    report = calibrate([registry.get(CHEAP)], seeds=3, budget="quick", scheduler=scheduler)
    return json.loads(json.dumps(report.as_dict()))


@pytest.fixture(scope="module")
def by_threads() -> dict:
    return _calibration("threads")


def test_processes_give_the_numbers_threads_give(by_threads, tmp_path) -> None:
    out = tmp_path / "calibration.json"
    assert main(["calibrate", "--claim", CHEAP, "--seeds", "3", "--budget", "quick",
                 "--scheduler", "processes", "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == by_threads
    z = by_threads["z_scores"][CHEAP]
    assert z["seeds"] == 3 and z["max_abs"] == max(abs(v) for v in z["z"])


def test_unregistered_claim_runs_in_threads_only() -> None:
    stray = registry.get(CHEAP).with_estimator(registry.get(CHEAP).estimator)
    with pytest.raises(ValueError, match=f"claim {CHEAP} is not registered"):
        calibrate([stray], seeds=1, budget="quick", scheduler="processes")
    with pytest.raises(ValueError, match=f"claim {CHEAP} is not registered"):
        verify_claims([(stray, None)], budget="quick", scheduler="processes")


def test_verify_on_processes_gives_the_numbers_and_holm_family_of_threads(tmp_path) -> None:
    claims = [a for c in (CHEAP, "engine.isserlis-fourth", "grad.value-norm")
              for a in ("--claim", c)]
    reports = []
    for scheduler in ("threads", "processes"):
        out = tmp_path / f"{scheduler}.json"
        assert main(["verify", *claims, "--budget", "quick", "--scheduler", scheduler,
                     "--json", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report.pop("meta")["scheduler"] == scheduler
        for result in report["results"]:
            result.pop("seconds")
        reports.append(report)
    assert reports[0] == reports[1]


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    import dask

    # workers as the README starts them: not daemonic, so the audit's symbolic steps
    # can run in time-limited child processes
    with dask.config.set({"distributed.worker.daemon": False}), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None) as local:
        yield local


def test_dask_cluster_gives_the_numbers_threads_give(cluster, by_threads) -> None:
    assert _calibration(cluster.scheduler_address) == by_threads


def test_figure_points_on_a_dask_cluster_equal_those_in_process(cluster) -> None:
    point = tuple(registry.get(CHEAP).point().items())
    sims = [Simulation(CHEAP, point, 300, seed) for seed in point_seeds(5, 3)]
    with Scheduler(cluster.scheduler_address) as pool:
        remote = pool.map(Simulation.__call__, sims)
    assert remote == [sim() for sim in sims]


def _audit_json(path) -> dict:
    """An audit's JSON report without what depends on the machine (times, the scheduler)."""
    report = json.loads(path.read_text())
    report.pop("meta")
    for statement in report["statements"]:
        statement.pop("seconds")
    return report


@pytest.fixture(scope="module")
def audited_in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "threads.json"
    args = [a for s in STATEMENTS for a in ("--statement", s)]
    assert main(["audit", *args, "--budget", "quick", "--json", str(out)]) == 0
    return _audit_json(out)


def test_an_audit_on_processes_shares_the_store_and_gives_the_same_report(
        audited_in_process, tmp_path, capsys) -> None:
    args = [a for s in STATEMENTS for a in ("--statement", s)]
    store = tmp_path / "store"
    for run in ("first", "second"):
        out = tmp_path / f"{run}.json"
        assert main(["audit", *args, "--budget", "quick", "--scheduler", "processes",
                     "--cache", str(store), "--json", str(out)]) == 0
        assert _audit_json(out) == audited_in_process
        line = capsys.readouterr().out.strip().splitlines()[-1]
        reused, computed = (int(w) for w in line.split(":")[1].split() if w.isdigit())
        assert (reused == 0) if run == "first" else (computed == 0), line
        assert reused + computed > 0, line


def test_an_audit_on_a_dask_cluster_gives_the_report_in_process(
        cluster, audited_in_process, tmp_path) -> None:
    args = [a for s in STATEMENTS for a in ("--statement", s)]
    out = tmp_path / "dask.json"
    assert main(["audit", *args, "--budget", "quick", "--scheduler",
                 cluster.scheduler_address, "--json", str(out)]) == 0
    assert _audit_json(out) == audited_in_process


def test_unreachable_dask_scheduler_is_one_line_exit_2(monkeypatch, capsys) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr("sigprop.scheduler.CONNECT_TIMEOUT", 1.0)
    assert main(["calibrate", "--claim", CHEAP, "--seeds", "1", "--budget", "quick",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def _limited_in_a_daemon(queue) -> None:
    from sigprop.limits import run_limited

    try:
        run_limited("a symbolic step", abs, -1)
        queue.put("ran")
    except ValueError as exc:
        queue.put(str(exc))


def test_a_daemonic_worker_is_told_how_to_start_workers() -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    worker = ctx.Process(target=_limited_in_a_daemon, args=(queue,), daemon=True)
    worker.start()
    message = queue.get(timeout=60)
    worker.join()
    assert message == ("a symbolic step needs a child process, which a daemonic worker "
                       "cannot start: run Dask workers with "
                       "DASK_DISTRIBUTED__WORKER__DAEMON=False")


def _children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def _is_worker(pid: int) -> bool:
    """Whether ``pid`` is a spawned multiprocessing worker."""
    try:
        return "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                     if line.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return "zombie" not in state


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_sigterm_ends_a_sweep_and_its_worker_processes() -> None:
    """``kill`` (SIGTERM) on a sweep over processes ends it as Ctrl-C does, exit code
    128 + 15, within seconds (its tasks take about a minute each), and no worker
    process outlives the command to finish tasks for nobody."""
    command = [sys.executable, "-m", "sigprop.cli", "calibrate", "--claim",
               "grad.query-norm-depth", "--seeds", "4", "--scheduler", "processes"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            workers = {c for c in _children(proc.pid) if _is_worker(c)}
        assert len(workers) >= 2, "the sweep never started its workers"
        time.sleep(3)  # the workers are now inside their first tasks
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers)
    finally:  # whatever failed, leave nothing running
        for pid in [proc.pid, *workers]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()

"""The "real site on loopback": the simulated microscope runs as SEPARATE processes (``lumiere sim``),
the tests build ``build_instrument(site_file)`` from the site file it writes (every backend real:
``merlin``, scan ``tcp``, laser/vg/cl ``serial``) and drive it through the real drivers only.

Two simulators, each started once per session on first use: ``site`` (the default low-loss
spectrometer, for the SI, EEGS and Swift) and ``core_loss_site`` (350 eV offset, 1 eV/channel,
200 pA and a fast drift, for the drift-corrected SI). In every test of this directory building a
:class:`~detectors.simulation.world.SimulatedWorld` in the test process is an error.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading

import pytest

#: seed of the simulated worlds (the tests know the specimen of this seed, not the world)
SEED = 0
#: wall-clock bound on a simulator's start-up, s
START_TIMEOUT_S = 60.0
CORE_LOSS_CONFIG = """
[spectrometer]
energy_offset_eV = 350.0
dispersion_eV_per_channel = 1.0
[beam]
current_pA = 200.0
[world.drift]
rate_nm_per_min = [36.0, 48.0]   # 1 nm/s: measurable within a few seconds of wall time
random_walk_nm_per_sqrt_min = 0.0
"""


@dataclasses.dataclass
class SimProcess:
    """A running ``lumiere sim`` and the site file it wrote."""

    site_file: pathlib.Path
    process: subprocess.Popen
    lines: list[str]
    seed: int = SEED

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM (Windows: terminate) and wait; returns the exit status."""
        if self.process.poll() is None:
            if os.name == "posix":
                self.process.send_signal(signal.SIGTERM)
            else:  # pragma: no cover - Windows has no catchable SIGTERM
                self.process.terminate()
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise


def start_sim(directory: pathlib.Path, *args: str, config_text: str | None = None) -> SimProcess:
    """Start ``lumiere sim`` writing ``directory/site.toml``; returns once it printed ``ready``."""
    site_file = directory / "site.toml"
    command = [sys.executable, "-m", "lumiere.cli", "sim", "--seed", str(SEED), "--site-file", str(site_file), *args]
    if config_text is not None:
        (directory / "world.toml").write_text(config_text, encoding="utf-8")
        command += ["--config", str(directory / "world.toml")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready: queue.Queue = queue.Queue()

    def read() -> None:  # keeps draining stdout so the simulator never blocks on a full pipe
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("ready"):
                ready.put(True)
        ready.put(False)

    threading.Thread(target=read, daemon=True).start()
    sim = SimProcess(site_file, process, lines)
    try:
        ok = ready.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        ok = False
    if not ok:
        sim.stop()
        raise RuntimeError(f"lumiere sim did not become ready within {START_TIMEOUT_S} s: " + "\n".join(lines))
    return sim


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> SimProcess:
    sim = start_sim(tmp_path_factory.mktemp("realsite_low_loss"))
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def core_loss_site(tmp_path_factory) -> SimProcess:
    sim = start_sim(tmp_path_factory.mktemp("realsite_core_loss"),
                    config_text=CORE_LOSS_CONFIG)
    yield sim
    sim.stop()


@pytest.fixture
def start_simulator(tmp_path):
    """``start_simulator(*args)``: a ``lumiere sim`` of this test only (stopped afterwards)."""
    started: list[SimProcess] = []

    def start(*args: str) -> SimProcess:
        directory = tmp_path / f"sim{len(started)}"
        directory.mkdir()
        started.append(start_sim(directory, *args))
        return started[-1]

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture(autouse=True)
def no_world_here(monkeypatch):
    """The test process of a real site must never build a simulated world."""
    from detectors.simulation import world

    def refuse(self, *args, **kwargs):
        raise AssertionError("a SimulatedWorld was built in the test process of a real site")

    monkeypatch.setattr(world.SimulatedWorld, "__init__", refuse)

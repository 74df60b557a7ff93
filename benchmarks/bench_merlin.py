"""Merlin EELS pipeline benchmark: fused kernels vs numpy / LiberTEM / read limit, and end to end over TCP.

Run: ``python benchmarks/bench_merlin.py [--quick] [--json results.json]``

Part 1 times ``analysis.kernels.correct_and_bin`` on 256 x 1024 uint16 frames (dark, gain, 0.1 % bad
pixels) against a plain numpy implementation, LiberTEM's ``correct`` + sum (if importable) and the read
limit (a numba pass that only reads and bins). Part 2 runs the simulated Merlin in a subprocess and
streams frames over TCP on 127.0.0.1 into the receiver, which decodes, corrects and bins each batch
straight from the socket buffer into a spectrum-image buffer; it reports drops, achieved rate and CPU load,
and the highest rate reached without pacing (= highest rate without drops on this machine).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.kernels import (ENCODING_U16, CorrectionMaps, bin_frames, correct_and_bin,  # noqa: E402
                              correct_and_bin_encoded)
from detectors.merlin.control import MerlinControl  # noqa: E402
from detectors.merlin.receiver import MerlinDataClient  # noqa: E402
from detectors.merlin.settings import MerlinSettings  # noqa: E402
from detectors.merlin.streaming import receive_spectra  # noqa: E402

ROWS, COLS = 256, 1024


def make_inputs(n_frames: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 4096, (n_frames, ROWS, COLS), dtype=np.uint16)
    dark = (rng.random((ROWS, COLS)) * 5).astype(np.float32)
    gain = (1 + 0.05 * rng.standard_normal((ROWS, COLS))).astype(np.float32)
    bad = np.zeros(ROWS * COLS, bool)
    bad[rng.choice(ROWS * COLS, ROWS * COLS // 1000, replace=False)] = True
    return frames, dark, gain, bad.reshape(ROWS, COLS)


def numpy_correct_and_bin(frames, dark, gain, bad, chunk: int = 32) -> np.ndarray:
    """Plain numpy: (x - dark) * gain, bad pixels = mean of valid 4-neighbours, sum over rows; in chunks."""
    bad_r, bad_c = np.nonzero(bad)
    neighbour_r = np.stack([bad_r - 1, bad_r + 1, bad_r, bad_r]).T
    neighbour_c = np.stack([bad_c, bad_c, bad_c - 1, bad_c + 1]).T
    inside = (neighbour_r >= 0) & (neighbour_r < ROWS) & (neighbour_c >= 0) & (neighbour_c < COLS)
    valid = inside & ~bad[np.clip(neighbour_r, 0, ROWS - 1), np.clip(neighbour_c, 0, COLS - 1)]
    neighbour_r, neighbour_c = np.clip(neighbour_r, 0, ROWS - 1), np.clip(neighbour_c, 0, COLS - 1)
    counts = np.maximum(valid.sum(axis=1), 1)
    out = np.empty((len(frames), COLS), np.float32)
    for start in range(0, len(frames), chunk):
        corrected = (frames[start:start + chunk] - dark) * gain
        values = corrected[:, neighbour_r, neighbour_c] * valid
        corrected[:, bad_r, bad_c] = values.sum(axis=2) / counts
        out[start:start + chunk] = corrected.sum(axis=1)
    return out


def libertem_correct_and_bin(frames, dark, gain, bad, chunk: int = 32):
    """LiberTEM's detector correction (8-neighbour repair) per chunk of frames, then sum over rows."""
    from libertem.io.corrections.detector import RepairDescriptor, correct
    descriptor = RepairDescriptor((ROWS, COLS), np.array(np.nonzero(bad)))
    out = np.empty((len(frames), COLS), np.float32)
    for start in range(0, len(frames), chunk):
        corrected = correct(frames[start:start + chunk], dark_image=dark, gain_map=gain,
                            repair_descriptor=descriptor, inplace=False)
        out[start:start + chunk] = corrected.sum(axis=1)
    return out


def best_rates(candidates: dict, n_frames: int, repeats: int) -> dict[str, float | str]:
    """Frames/s of each candidate, best of ``repeats`` rounds; rounds interleave the candidates so a
    machine shared with other work slows them all alike."""
    best: dict[str, float] = {}
    failed: dict[str, str] = {}
    for name, function in candidates.items():
        try:
            function()                                    # compile / warm caches
            best[name] = float("inf")
        except Exception as exc:  # noqa: BLE001 - e.g. LiberTEM missing: reported, not fatal
            failed[name] = f"unavailable: {type(exc).__name__}: {exc}"
    for _ in range(repeats):
        for name in best:
            start = time.perf_counter()
            candidates[name]()
            best[name] = min(best[name], time.perf_counter() - start)
    return {**{name: n_frames / seconds for name, seconds in best.items()}, **failed}


def kernel_benchmark(n_frames: int, repeats: int) -> dict:
    frames, dark, gain, bad = make_inputs(n_frames)
    maps = CorrectionMaps.build((ROWS, COLS), dark, gain, bad)
    out = np.empty((n_frames, COLS), np.float32)
    big_endian = np.ascontiguousarray(frames.astype(">u2").view(np.uint8).reshape(n_frames, -1))
    ours = correct_and_bin(frames, maps=maps, out=out).copy()
    reference = numpy_correct_and_bin(frames, dark, gain, bad)
    max_error = float(np.abs(ours - reference).max() / np.abs(reference).max())
    rates = best_rates({
        "ours_correct_and_bin": lambda: correct_and_bin(frames, maps=maps, out=out),
        "ours_from_big_endian_bytes": lambda: correct_and_bin_encoded(big_endian, 0, ENCODING_U16, (ROWS, COLS),
                                                                      maps=maps, out=out),
        "read_limit_bin_only": lambda: bin_frames(frames, out),
        "numpy": lambda: numpy_correct_and_bin(frames, dark, gain, bad),
        "libertem": lambda: libertem_correct_and_bin(frames, dark, gain, bad),
    }, n_frames, repeats)
    ratios = {"vs_numpy": rates["ours_correct_and_bin"] / rates["numpy"],
              "fraction_of_read_limit": rates["ours_correct_and_bin"] / rates["read_limit_bin_only"],
              "big_endian_bytes_fraction_of_read_limit":
                  rates["ours_from_big_endian_bytes"] / rates["read_limit_bin_only"]}
    if isinstance(rates["libertem"], float):
        ratios["vs_libertem"] = rates["ours_correct_and_bin"] / rates["libertem"]
    return {"n_frames": n_frames, "frames_per_s": rates, "ratios": ratios, "max_rel_error_vs_numpy": max_error}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_simulator(realtime: bool) -> tuple[subprocess.Popen, int, int]:
    command = [sys.executable, "-m", "detectors.merlin.sim_cli", "--control-port", "0", "--data-port", "0",
               "--cache-frames", "64"] + ([] if realtime else ["--no-realtime"])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    line = process.stdout.readline()
    control_port, data_port = (int(part.split("=")[1]) for part in line.split())
    return process, control_port, data_port


def stream_benchmark(depth: int, rate_hz: float | None, n_frames: int, raw: bool = False) -> dict:
    """Simulator subprocess -> TCP -> decode + correct + bin -> SI buffer; ``rate_hz=None`` = unpaced."""
    process, control_port, data_port = _start_simulator(realtime=rate_hz is not None)
    try:
        _, dark, gain, bad = make_inputs(1)
        maps = CorrectionMaps.build((ROWS, COLS), dark, gain, bad)
        spectrum_image = np.zeros((n_frames, COLS), np.float32)
        arrival_s: list[float] = []
        client_class = MerlinDataClient

        class TimedClient(client_class):   # records batch arrival times around the library's receive loop
            def _process(self, messages, *args, **kwargs):
                arrival_s.append(time.perf_counter())
                return super()._process(messages, *args, **kwargs)

        exposure_ms = 1000.0 / rate_hz if rate_hz else 0.1
        with MerlinControl("127.0.0.1", control_port, timeout_s=10) as control, \
                TimedClient("127.0.0.1", data_port, idle_timeout_s=10, batch_frames=64) as data:
            control.apply(MerlinSettings(counter_depth=depth, raw=raw, continuous_rw=True, num_frames=n_frames,
                                         acquisition_time_ms=exposure_ms, acquisition_period_ms=exposure_ms))
            data.connect()
            cpu_client, cpu_sim = os.times(), _cpu_seconds(process.pid)
            control.start_acquisition()
            start = time.perf_counter()
            result = receive_spectra(data, spectrum_image, maps)
            elapsed = time.perf_counter() - start
            after = os.times()
            client_cpu = (after.user - cpu_client.user) + (after.system - cpu_client.system)
            sim_cpu = _cpu_seconds(process.pid) - cpu_sim
        periodic = bool(np.array_equal(spectrum_image[64:128], spectrum_image[:64]))   # 64 cached frames cycle
        # rate between the first and the last batch: excludes arming and the simulator's frame-cache build
        achieved = (n_frames - 1) / (arrival_s[-1] - arrival_s[0])
        return {"depth": depth, "raw": raw, "requested_fps": rate_hz, "frames": n_frames,
                "received": result.n_received, "dropped": result.dropped, "out_of_order": result.out_of_order,
                "elapsed_s": elapsed, "achieved_fps": achieved,
                "MB_per_s": achieved * ROWS * COLS * (2 if depth == 12 else 1) / 1e6,
                "client_cpu_cores": client_cpu / elapsed, "simulator_cpu_cores": sim_cpu / elapsed,
                "kept_up": rate_hz is None or achieved >= 0.98 * rate_hz, "spectra_consistent": periodic}
    finally:
        process.terminate()
        process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    kernel_frames, stream_frames, repeats = (200, 2000, 3) if args.quick else (1000, 20000, 7)
    results: dict = {"cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg(),
                     "kernels": kernel_benchmark(kernel_frames, repeats), "stream": []}
    k = results["kernels"]
    print(f"machine: {os.cpu_count()} cores, load average at start {results['load_average_at_start'][0]:.2f}")
    print(f"\n== correct_and_bin, {kernel_frames} frames 256x1024 uint16, dark+gain+0.1% bad pixels "
          f"(max rel. diff vs numpy {k['max_rel_error_vs_numpy']:.1e}) ==")
    for name, rate in k["frames_per_s"].items():
        print(f"  {name:28s} {rate:>10.0f} frames/s" if isinstance(rate, float) else f"  {name:28s} {rate}")
    for name, ratio in k["ratios"].items():
        print(f"  {name:28s} {ratio:>10.2f}")
    print(f"\n== end to end: simulator -> TCP 127.0.0.1 -> decode+correct+bin -> SI ({stream_frames} frames) ==")
    print(f"  {'mode':22s} {'req fps':>8s} {'got fps':>8s} {'MB/s':>7s} {'drops':>6s} {'client cpu':>10s} "
          f"{'sim cpu':>8s} kept up")
    for depth, rate, raw in ((12, 1200.0, False), (6, 2400.0, False), (12, None, False), (6, None, False),
                             (6, None, True)):
        row = stream_benchmark(depth, rate, stream_frames, raw)
        results["stream"].append(row)
        mode = f"{depth}-bit {'raw' if raw else 'binary'}{' unpaced' if rate is None else ''}"
        print(f"  {mode:22s} {rate or 0:>8.0f} {row['achieved_fps']:>8.0f} {row['MB_per_s']:>7.0f} "
              f"{row['dropped']:>6d} {row['client_cpu_cores']:>9.2f}c {row['simulator_cpu_cores']:>7.2f}c "
              f"{row['kept_up']}{'' if row['spectra_consistent'] else ' (SPECTRA MISMATCH)'}")
    print("  (cpu in cores of this machine; 'unpaced' = simulator sends as fast as the pipeline accepts, "
          "i.e. the highest rate without drops)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

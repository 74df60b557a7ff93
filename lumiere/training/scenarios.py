"""The four training scenarios (see :mod:`lumiere.training.base`)."""
from __future__ import annotations

import dataclasses
import json
import math
import typing

import numpy as np

from lumiere.sinks import MemorySink
from lumiere.tasks import TaskControl

from .base import Report, Scenario, TrainingSession

HC_EV_NM = 1239.84


# ------------------------------------------------------------------------------------------------
class EEGSResonance(Scenario):
    name = "eegs-resonance"
    title = "Find the plasmon resonance with EEGS"
    goal = ("A gold particle near the centre of the specimen has an unknown dipole plasmon resonance "
            "(somewhere between 550 and 670 nm). Tune the laser, park the beam a few nm outside the "
            "particle's edge, run a wavelength scan and fit the resonance. Report its centre in eV.")
    how_to = ("In Swift: 'Lumière training' panel → Start; HAADF survey to find the particle; place the "
              "probe just outside its edge; 'EEGS' panel → wavelength scan (e.g. 540–700 nm, 5 nm "
              "steps) → the status shows the fitted resonance; Check in the training panel.")
    answer_help = "resonance centre, eV (or e.g. '642nm')"
    #: pass if |found − truth| ≤ max(TOLERANCE_EV, 0.25 × FWHM)
    TOLERANCE_EV = 0.03

    def _configure(self, instrument, seed: int) -> TrainingSession:
        _stop_drift(instrument.world)
        p = instrument.world.specimen.particles[0]
        truth = {"particle": 0, "resonance_eV": p.resonance_eV, "resonance_fwhm_eV": p.resonance_fwhm_eV,
                 "resonance_nm": p.resonance_nm, "particle_centre_nm": (p.y_nm, p.x_nm),
                 "radius_nm": p.radius_nm}
        return TrainingSession(self.name, seed, instrument, truth)

    def run_trainee(self, session: TrainingSession, *, correct: bool = True,
                    task: TaskControl | None = None, sink=None) -> dict:
        from eegs import EEGSDevices, WavelengthScan, WavelengthScanParameters, analyse_scan
        inst = session.instrument
        p = inst.world.specimen.particles[0]
        # the trainee finds the particle on the survey and parks 7.5 nm outside its edge;
        # the wrong trainee parks 300 nm away (on the carbon film: no coupling, no resonance)
        d = 7.5 if correct else 300.0
        inst.scan.set_probe_position_nm(p.y_nm, p.x_nm + p.radius_nm + d)
        devices = EEGSDevices.from_instrument(inst)
        scan = WavelengthScan(devices, WavelengthScanParameters(540.0, 700.0, 5.0, spectra_per_point=6,
                                                                exposure_s=0.4))
        result = scan.run(sink if sink is not None else MemorySink(), task)
        analysis = analyse_scan(result)
        s = analysis.summary()
        out = {"resonance_eV": s.get("resonance_centre_eV") if analysis.resonance is not None else None,
               "fit_error": analysis.resonance_error, "scan": result, "analysis": analysis}
        if not correct and out["resonance_eV"] is None:
            out["resonance_eV"] = 1.0 + float(np.nanmean(analysis.photon_energy_eV))  # a guess
        session.last_result = out
        return out

    def parse_answer(self, text: str) -> dict:
        t = text.strip().lower().replace(" ", "")
        try:
            if t.endswith("nm"):
                return {"resonance_eV": HC_EV_NM / float(t[:-2])}
            return {"resonance_eV": float(t[:-2] if t.endswith("ev") else t)}
        except ValueError:
            raise ValueError(f"--answer {text!r}: expected a resonance in eV (e.g. 2.03) or nm (e.g. 611nm)") from None

    def check(self, session: TrainingSession, trainee_result: typing.Any) -> Report:
        truth = session.truth
        if isinstance(trainee_result, (int, float)):
            found = float(trainee_result)
        elif isinstance(trainee_result, typing.Mapping):
            found = trainee_result.get("resonance_eV")
        else:
            found = getattr(trainee_result, "resonance_eV", None)
        t_eV, fwhm = truth["resonance_eV"], truth["resonance_fwhm_eV"]
        tol = max(self.TOLERANCE_EV, 0.25 * fwhm)
        if found is None or not math.isfinite(float(found)):
            return Report(False, ["no resonance reported (the fit failed: was the probe close to the "
                                  "particle and the scan range wide enough?)",
                                  f"truth: {t_eV:.3f} eV ({truth['resonance_nm']:.1f} nm)"])
        found = float(found)
        err = found - t_eV
        ok = abs(err) <= tol
        return Report(ok, [f"resonance found at {found:.3f} eV ({HC_EV_NM / found:.1f} nm), truth "
                           f"{t_eV:.3f} eV ({truth['resonance_nm']:.1f} nm), FWHM {fwhm * 1e3:.0f} meV",
                           f"error {err * 1e3:+.0f} meV; allowed ±{tol * 1e3:.0f} meV"])


# ------------------------------------------------------------------------------------------------
class DriftMap(Scenario):
    name = "drift-map"
    title = "Map Sc and Dy under drift"
    goal = ("The stage drifts strongly (about 8 nm/min plus a random walk). Set up a drift-corrected "
            "spectrum image of the DyScO3 grain (Sc L2,3 and Dy M4,5 maps) with the gold particle as "
            "drift reference, and compare it with an uncorrected SI of the same area. The check "
            "compares each map with the ideal (ground-truth) map on the same grid.")
    how_to = ("In Swift: 'Lumière training' panel → Start; 'Lumière SI' panel: survey, draw the SI on "
              "the DyScO3 grain and the reference on the gold particle, drift correction on (then off "
              "for the comparison); Check in the training panel (it reads the last SI results).")
    answer_help = None
    DRIFT_NM_PER_MIN = 8.0
    #: pass: 1 − r² of the corrected Dy map against the truth below this, and below the uncorrected one
    MAX_ERROR = 0.1

    def _configure(self, instrument, seed: int) -> TrainingSession:
        from detectors.simulation.setup import configure_simulation
        configure_simulation(instrument.world, drift_nm_per_min=self.DRIFT_NM_PER_MIN,
                             random_walk_nm_per_sqrt_min=0.5, current_pA=200.0, seed=seed + 1)
        return TrainingSession(self.name, seed, instrument, {"drift_nm_per_min": self.DRIFT_NM_PER_MIN,
                                                             "drift": instrument.world.drift})

    def parameters(self, session: TrainingSession, correct_drift: bool = True, size_px: int = 32,
                   n_sequences: int = 6, dwell_s: float = 0.02):
        from detectors.interfaces import ScanFrame
        from detectors.simulation.setup import drift_si_targets_nm
        from drift_eels.parameters import DriftSIParameters, region_around
        survey = ScanFrame(size_px=(256, 256), fov_nm=512.0)
        si_centre, ref_centre = drift_si_targets_nm(session.world)
        si_rect = region_around(survey, si_centre, 2.0 * size_px)
        ref_rect = region_around(survey, ref_centre, 96.0)
        return DriftSIParameters(survey, si_rect, ref_rect, si_shape_px=(size_px, size_px), dwell_s=dwell_s,
                                 n_sequences=n_sequences, correct_drift=correct_drift)

    def run_trainee(self, session: TrainingSession, *, correct: bool = True, task: TaskControl | None = None,
                    sink=None) -> dict:
        from drift_eels import DriftCorrectedSI
        out = {}
        # the correct trainee turns drift correction on and runs the uncorrected baseline for the
        # comparison; the wrong one submits the uncorrected SI as the result
        for key, corr in (("corrected", correct), ("uncorrected", False)):
            params = self.parameters(session, correct_drift=corr)
            wf = DriftCorrectedSI.from_instrument(session.instrument, params, sink if sink is not None else MemorySink(),
                                                  prefix="" if key == "corrected" else "uncorrected_", task=task)
            out[key] = wf.run()
        session.last_result = out
        return out

    def map_error(self, session: TrainingSession, result, element: str) -> float:
        """1 − r² of ``result``'s map of ``element`` against the ground truth on its grid."""
        world = session.world
        frame = result.plan.si_frame
        y, x = frame.positions_nm()
        d0 = world.drift.offset_nm(result.measurements[0].time_s) if result.measurements else (0.0, 0.0)
        g = result.grid_offset_nm
        truth = world.specimen.truth_maps(y + g[0] - d0[0], x + g[1] - d0[1])[element]
        edge = "Dy M4,5" if element == "Dy" else "Sc L2,3"
        m = result.maps[edge].signal
        ok = (result.count >= 0.9 * max(result.sequences_done, 1)) & np.isfinite(m)
        if ok.sum() < 10 or np.std(truth[ok]) == 0:
            return 1.0
        return float(1 - np.corrcoef(m[ok], truth[ok])[0, 1] ** 2)

    def check(self, session: TrainingSession, trainee_result: typing.Any) -> Report:
        if not isinstance(trainee_result, typing.Mapping):
            trainee_result = {"corrected": trainee_result}
        c = trainee_result.get("corrected")
        u = trainee_result.get("uncorrected")
        if c is None:
            return Report(False, ["no spectrum image submitted"])
        lines, ok = [], True
        errs = {el: self.map_error(session, c, el) for el in ("Dy", "Sc")}
        for el, e in errs.items():
            lines.append(f"{el} map: sharpness r² = {1 - e:.3f} against the ideal map (1 = ideal)")
        if errs["Dy"] > self.MAX_ERROR:
            ok = False
            lines.append(f"the Dy map is blurred: 1 − r² = {errs['Dy']:.3f} > {self.MAX_ERROR} "
                         "(was drift correction on? is the reference on a feature that stays in view?)")
        if u is not None:
            eu = {el: self.map_error(session, u, el) for el in ("Dy", "Sc")}
            lines.append("uncorrected comparison: " + ", ".join(f"{el} r² = {1 - e:.3f}" for el, e in eu.items()))
            if errs["Dy"] >= eu["Dy"]:
                ok = False
                lines.append("the submitted map is not sharper than the uncorrected one")
        else:
            lines.append("no uncorrected SI submitted for the comparison")
        return Report(ok, lines)


# ------------------------------------------------------------------------------------------------
class CLEmission(Scenario):
    name = "cl-emission"
    title = "Characterise the CL emission"
    goal = ("Record cathodoluminescence spectra with the beam on the gold particle near the centre "
            "and report the wavelength of its plasmon emission peak (nm). Correct for the "
            "spectrometer's response (grating efficiency, QE) before reading the peak.")
    how_to = ("In Swift: 'Lumière training' panel → Start; park the probe on the particle; CL "
              "spectrometer: grating 3 (150 l/mm), centre 620 nm, slit 100 µm, exit mirror FRONT; "
              "acquire a spectrum, divide by the response; Check with the peak wavelength.")
    answer_help = "peak wavelength, nm"
    TOLERANCE_NM = 8.0

    def _configure(self, instrument, seed: int) -> TrainingSession:
        from detectors.cl import SimulatedCLSpectrometer
        _stop_drift(instrument.world)
        world = instrument.world
        p = world.specimen.particles[0]
        cl = SimulatedCLSpectrometer(world)
        return TrainingSession(self.name, seed, instrument,
                               {"peak_nm": p.resonance_nm, "resonance_eV": p.resonance_eV,
                                "fwhm_eV": p.resonance_fwhm_eV, "particle_centre_nm": (p.y_nm, p.x_nm)},
                               extras={"cl": cl})

    def run_trainee(self, session: TrainingSession, *, correct: bool = True) -> dict:
        cl = session.extras["cl"]
        world = session.world
        p = world.specimen.particles[0]
        if correct:
            session.instrument.scan.set_probe_position_nm(p.y_nm, p.x_nm)
        else:  # the wrong trainee parks on the oxide grain and reports its strongest line (Dy³⁺)
            g = min((g for g in world.specimen.grains if g.material == "DyScO3"),
                    key=lambda g: math.hypot(g.y_nm, g.x_nm))
            session.instrument.scan.set_probe_position_nm(g.y_nm, g.x_nm)
        spec = cl.spectrometer
        spec.set_grating(3)
        spec.goto_nm(620.0)
        spec.set_slit_um(100)
        counts = np.asarray(cl.camera.acquire_spectrum(2.0), dtype=np.float64)
        wl, gain, _ = cl.camera.response()
        good = gain > 0.05 * gain.max()
        spectrum = np.where(good, counts / np.where(good, gain, 1.0), 0.0)
        k = np.ones(15) / 15.0
        smooth = np.convolve(spectrum, k, mode="same")
        peak = float(wl[int(np.argmax(smooth[10:-10])) + 10])
        out = {"peak_nm": peak, "wavelengths_nm": wl, "spectrum": spectrum}
        session.last_result = out
        return out

    def parse_answer(self, text: str) -> dict:
        t = text.strip().lower().replace("nm", "")
        try:
            return {"peak_nm": float(t)}
        except ValueError:
            raise ValueError(f"--answer {text!r}: expected a wavelength in nm (e.g. 612)") from None

    def check(self, session: TrainingSession, trainee_result: typing.Any) -> Report:
        found = trainee_result if isinstance(trainee_result, (int, float)) else trainee_result.get("peak_nm")
        t = session.truth["peak_nm"]
        if found is None:
            return Report(False, ["no peak reported", f"truth: {t:.1f} nm"])
        err = float(found) - t
        ok = abs(err) <= self.TOLERANCE_NM
        return Report(ok, [f"plasmon emission peak found at {float(found):.1f} nm, truth {t:.1f} nm "
                           f"({session.truth['resonance_eV']:.3f} eV)",
                           f"error {err:+.1f} nm; allowed ±{self.TOLERANCE_NM:g} nm"])


def _stop_drift(world) -> None:
    from detectors.simulation.drift import DriftModel, DriftSettings
    world.drift = DriftModel(DriftSettings((0.0, 0.0), 0.0), seed=world.seed)


# ------------------------------------------------------------------------------------------------
class MerlinTuning(Scenario):
    name = "merlin-tune"
    title = "Tune the Merlin"
    goal = ("The Merlin was left with a threshold too low and a 6-bit counter: the spectra are noisy "
            "and the zero-loss peak saturates. Find the noise floor (one chip is noisier than the "
            "others), set the lowest threshold above it, choose a counter depth that does not "
            "saturate, and list the hot and dead pixels for the bad-pixel map.")
    how_to = ("In Swift: 'Lumière training' panel → Start; 'Merlin settings' panel: threshold 0, "
              "counter depth; acquire dark frames (beam blanked) at a few thresholds and frames with "
              "the beam on; Check in the training panel (it reads the detector's settings and the "
              "bad pixels you entered).")
    answer_help = ('JSON: {"threshold_keV": 10, "counter_depth": 12, "noisy_chip": 2, '
                   '"bad_pixels": [[row, col], ...]}')
    N_HOT, N_DEAD = 4, 4
    NOISE_FLOOR_KEV, NOISY_FLOOR_KEV = 4.0, 8.0
    MAX_THRESHOLD_KEV = 30.0

    def configure(self, instrument, seed: int = 0, *, owns_instrument: bool = True) -> TrainingSession:
        from detectors.merlin.camera import MerlinEELSCamera
        if not owns_instrument and not isinstance(instrument.eels_camera, MerlinEELSCamera):
            # Swift's camera adapter keeps the camera it was built with: it cannot be swapped here
            raise ValueError("this scenario needs the simulated Merlin: start Swift with a site file "
                             "setting eels_camera.backend = \"merlin-simulated\"")
        return super().configure(instrument, seed, owns_instrument=owns_instrument)

    def _configure(self, instrument, seed: int) -> TrainingSession:
        from detectors.merlin.camera import MerlinEELSCamera, simulated_merlin_camera
        from detectors.merlin.frame_sources import DefectiveChipSource
        from detectors.merlin.settings import MerlinSettings
        _stop_drift(instrument.world)
        world = instrument.world
        rng = np.random.default_rng([seed, 0x3E7])
        rows, cols = 256, 1024
        # dead pixels where the beam gives many counts (spectrometer focus, low-loss channels)
        profile = world.nondispersive_profile(rows)
        expected = world.eels_counts(np.array([world.beam.probe_y_nm]), np.array([world.beam.probe_x_nm]),
                                     np.array([world.clock.now_s()]), 1.0, noise=False)[0]
        rate = profile[:, None] * expected[None, :]
        bright = np.argwhere(rate > 2e3)
        dead = [tuple(int(v) for v in bright[i]) for i in rng.choice(len(bright), self.N_DEAD, replace=False)]
        hot = [(int(rng.integers(0, rows)), int(rng.integers(0, cols))) for _ in range(self.N_HOT)]
        noisy_chip = int(rng.integers(0, 4))
        holder: dict = {}
        source = DefectiveChipSource(world.eels_frames, hot_pixels=hot, dead_pixels=dead, noisy_chip=noisy_chip,
                                     threshold_keV=lambda: float(holder["sim"].get_parameter("THRESHOLD0")),
                                     noise_floor_keV=self.NOISE_FLOOR_KEV, noisy_floor_keV=self.NOISY_FLOOR_KEV,
                                     seed=seed)
        current = instrument.eels_camera
        if isinstance(current, MerlinEELSCamera) and hasattr(current, "simulator"):
            # a simulated Merlin already in use (Swift): its simulator gets the defective chips
            camera = current
            source.source = camera.simulator.frame_source
            camera.simulator.frame_source = source
        elif isinstance(current, MerlinEELSCamera):
            raise ValueError("the Merlin of this site is real hardware: nothing to simulate")
        else:
            camera = simulated_merlin_camera(source, world.energy_axis_eV)
            instrument.eels_camera = camera
        holder["sim"] = camera.simulator
        camera.apply_settings(MerlinSettings(counter_depth=6, thresholds_keV=(3.0, 0.0)))
        truth = {"hot_pixels": hot, "dead_pixels": dead, "noisy_chip": noisy_chip,
                 "noise_floor_keV": self.NOISE_FLOOR_KEV, "noisy_floor_keV": self.NOISY_FLOOR_KEV}
        return TrainingSession(self.name, seed, instrument, truth, extras={"merlin_defects": source})

    def run_trainee(self, session: TrainingSession, *, correct: bool = True) -> dict:
        cam = session.instrument.eels_camera
        world = session.world
        exposure = 0.05
        # 1. dark frames at 5 keV: only the noisy chip counts
        world.beam.blanked = True
        try:
            _when_idle(cam.apply_settings, dataclasses.replace(cam.settings, counter_depth=12, thresholds_keV=(5.0, 0.0)))
            dark = _when_idle(cam.acquire_frames, 2, exposure).astype(np.float64).mean(axis=0)
            chip_means = [float(np.median(dark[:, c * 256:(c + 1) * 256])) for c in range(4)]
            noisy_chip = int(np.argmax(chip_means))
            threshold = 10.0 if correct else 5.0
            _when_idle(cam.apply_settings, dataclasses.replace(cam.settings, thresholds_keV=(threshold, 0.0)))
            dark = _when_idle(cam.acquire_frames, 2, exposure).astype(np.float64).mean(axis=0)
        finally:
            world.beam.blanked = False
        hot = np.argwhere(dark > 100.0)
        depth = 12 if correct else 6
        _when_idle(cam.apply_settings, dataclasses.replace(cam.settings, counter_depth=depth if correct else 12))
        lit = _when_idle(cam.acquire_frames, 4, exposure).astype(np.float64).sum(axis=0)
        padded = np.pad(lit, 1, mode="edge")
        neighbours = np.minimum(np.minimum(padded[:-2, 1:-1], padded[2:, 1:-1]),
                                np.minimum(padded[1:-1, :-2], padded[1:-1, 2:]))
        dead = np.argwhere((lit == 0) & (neighbours > 50.0))
        if not correct:
            _when_idle(cam.apply_settings, dataclasses.replace(cam.settings, counter_depth=depth))
        bad = sorted({tuple(int(v) for v in rc) for rc in np.concatenate([hot, dead])})
        out = {"threshold_keV": cam.settings.thresholds_keV[0], "counter_depth": cam.settings.counter_depth,
               "noisy_chip": noisy_chip, "bad_pixels": [list(b) for b in bad]}
        session.last_result = out
        return out

    def parse_answer(self, text: str) -> dict:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--answer: expected {self.answer_help} ({e})") from None
        if not isinstance(d, dict):
            raise ValueError(f"--answer: expected {self.answer_help}")
        return d

    def check(self, session: TrainingSession, trainee_result: typing.Any) -> Report:
        truth = session.truth
        r = dict(trainee_result or {})
        cam = session.instrument.eels_camera
        if "threshold_keV" not in r or "counter_depth" not in r:  # read what the detector is set to
            s = cam.read_settings() if hasattr(cam, "read_settings") else None
            if s is not None:
                r.setdefault("threshold_keV", s.thresholds_keV[0])
                r.setdefault("counter_depth", s.counter_depth)
        lines, ok = [], True
        th = r.get("threshold_keV")
        lo, hi = truth["noisy_floor_keV"], self.MAX_THRESHOLD_KEV
        th_ok = th is not None and lo <= float(th) <= hi
        ok &= th_ok
        lines.append(f"threshold 0 = {th} keV: {'ok' if th_ok else 'wrong'} (noise floor {truth['noise_floor_keV']:g} "
                     f"keV, {lo:g} keV on the noisy chip; keep it below {hi:g} keV)")
        depth = r.get("counter_depth")
        d_ok = depth in (12, 24)
        ok &= d_ok
        lines.append(f"counter depth {depth} bit: {'ok' if d_ok else 'saturates the zero-loss peak (use 12 or 24)'}")
        chip = r.get("noisy_chip")
        c_ok = chip is not None and int(chip) == truth["noisy_chip"]
        ok &= c_ok
        lines.append(f"noisy chip {chip}, truth {truth['noisy_chip']}")
        found = {tuple(int(v) for v in p) for p in r.get("bad_pixels", [])}
        bad = {tuple(p) for p in truth["hot_pixels"]} | {tuple(p) for p in truth["dead_pixels"]}
        hit, false = len(found & bad), len(found - bad)
        p_ok = hit == len(bad) and false <= 2
        ok &= p_ok
        lines.append(f"bad pixels: {hit} of {len(bad)} found ({len(truth['hot_pixels'])} hot, "
                     f"{len(truth['dead_pixels'])} dead), {false} listed that are fine")
        return Report(bool(ok), lines)


def _when_idle(fn, *args, timeout_s: float = 5.0):
    """Call a Merlin request, retrying while the detector still reports busy (the end of the
    previous acquisition), as an operator would."""
    import time

    from detectors.merlin.errors import MerlinBusy
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return fn(*args)
        except MerlinBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (EEGSResonance(), DriftMap(), CLEmission(), MerlinTuning())}

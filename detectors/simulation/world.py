"""The one simulated instrument every simulated device shares.

A :class:`SimulatedWorld` holds the specimen, the drift, the beam, the laser, the spectrometer
and a clock. Simulated devices (scan, EELS camera, Merlin server, laser bench, CL spectrometer)
change its state records and ask it for signals, so they all see the same experiment: the laser
tuned by the laser driver shows up as sidebands on the camera at the position the scan put the
probe, on a specimen that drifted since the last frame.

Frames of reference
-------------------
Microscope frame: probe positions in nm, (y, x), what the scan generator and probe shift set.
Specimen frame: where the specimen's features are. The specimen has drifted by ``d(t)``
(:class:`~detectors.simulation.drift.DriftModel`), so the probe at microscope position ``p``
sees specimen position ``p - d(t)``; an image of a fixed scan frame shows the specimen moved by
``+d(t)``.
"""
from __future__ import annotations

import threading
import time
import typing

import numpy as np
from scipy import special

from detectors.simulation import spectra
from detectors.simulation.clock import SimClock
from detectors.simulation.drift import DriftModel, DriftSettings
from detectors.simulation.noise import poisson_counts
from detectors.simulation.specimen import ADF_FRACTION_PER_NM, HAADF_FRACTION_PER_NM, MATERIALS, LocalComposition, Specimen
from detectors.simulation.state import BeamState, LaserState, SpectrometerState

ELECTRONS_PER_S_PER_PA = 1e-12 / 1.602176634e-19
HC_EV_NM = 1239.84
#: sidebands with a population below this everywhere are not computed
_SIDEBAND_CUTOFF = 1e-7


class SimulatedWorld:
    """The shared simulated instrument.

    Parameters
    ----------
    seed : int
        Seeds the specimen, the drift and every noise draw: two worlds with the same seed and the
        same sequence of calls give the same data.
    clock : SimClock, optional
        Defaults to a virtual clock (time passes only when a device acquires or waits).
    drift : DriftSettings, optional
        Drift rate and random walk; ``DriftSettings((0, 0), 0)`` switches drift off.
    specimen : Specimen, optional
        Defaults to ``Specimen(seed)``.
    """

    def __init__(self, seed: int = 0, *, clock: SimClock | None = None, drift: DriftSettings | None = None,
                 specimen: Specimen | None = None) -> None:
        self.seed = seed
        self.clock = clock or SimClock()
        self.specimen = specimen or Specimen(seed)
        self.drift = DriftModel(drift, seed=seed)
        self.beam = BeamState()
        self.laser = LaserState()
        self.spectrometer = SpectrometerState()
        #: rows of the EELS camera (Merlin: 256) and the non-dispersive beam profile's width in rows
        self.camera_rows = 256
        self.nondispersive_sigma_rows = 18.0
        self.lock = threading.RLock()
        self._draws = 0
        self._basis_cache: dict[tuple, np.ndarray] = {}
        self._state_updaters: list[typing.Callable[[], object]] = []
        self._probe_queue: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))

    def add_state_updater(self, update: typing.Callable[[], object]) -> None:
        """Register a callable that brings a device's share of the state up to the clock's time
        (e.g. the laser bench: a wavelength move in progress, power drift). Called before every
        signal is computed."""
        self._state_updaters.append(update)

    def _update_states(self) -> None:
        for update in self._state_updaters:
            update()

    # -- bookkeeping -----------------------------------------------------------------------
    def next_noise_seed(self) -> int:
        """A new seed for one noise draw; the sequence is fixed by the world's seed."""
        with self.lock:
            self._draws += 1
            return (self.seed * 1_000_003 + self._draws) & 0xFFFFFFFFFFFF

    def electrons(self, dwell_s: float | np.ndarray) -> float | np.ndarray:
        """Electrons delivered in ``dwell_s`` at the current beam current (0 when blanked)."""
        if self.beam.blanked:
            return 0.0 * np.asarray(dwell_s)
        return self.beam.current_pA * ELECTRONS_PER_S_PER_PA * np.asarray(dwell_s)

    def energy_axis_eV(self) -> np.ndarray:
        """Centres of the camera's energy channels, energy loss in eV (increasing)."""
        s = self.spectrometer
        return s.energy_offset_eV + s.dispersion_eV_per_channel * np.arange(s.channels)

    # -- geometry --------------------------------------------------------------------------
    def specimen_position_nm(self, probe_y_nm, probe_x_nm, t_s) -> tuple[np.ndarray, np.ndarray]:
        """Specimen coordinates under the probe at microscope positions and simulated times."""
        d = self.drift.offset_nm(np.broadcast_to(np.asarray(t_s, dtype=np.float64), np.shape(probe_y_nm)))
        return np.asarray(probe_y_nm) - d[..., 0], np.asarray(probe_x_nm) - d[..., 1]

    def composition(self, probe_y_nm, probe_x_nm, t_s) -> LocalComposition:
        sy, sx = self.specimen_position_nm(probe_y_nm, probe_x_nm, t_s)
        return self.specimen.local_composition(sy, sx)

    # -- HAADF -----------------------------------------------------------------------------
    def haadf_fraction(self, comp: LocalComposition) -> np.ndarray:
        """Fraction of the beam scattered onto the HAADF detector (N,)."""
        frac = sum(comp.thickness_nm[m] * HAADF_FRACTION_PER_NM[m] for m in MATERIALS)
        return 1.0 - np.exp(-frac)  # saturates gently for thick gold

    def haadf_counts(self, probe_y_nm, probe_x_nm, t_s, dwell_s: float, *, noise: bool = True) -> np.ndarray:
        """HAADF signal (electrons) at microscope positions (any shape) and times."""
        comp = self.composition(probe_y_nm, probe_x_nm, t_s)
        expected = (self.haadf_fraction(comp) * self.electrons(dwell_s)).reshape(np.shape(probe_y_nm))
        return poisson_counts(expected, self.next_noise_seed()) if noise else expected.astype(np.float32)

    def adf_fraction(self, comp: LocalComposition) -> np.ndarray:
        """Fraction of the beam scattered onto the (lower-angle) ADF detector (N,)."""
        frac = sum(comp.thickness_nm[m] * ADF_FRACTION_PER_NM[m] for m in MATERIALS)
        return 1.0 - np.exp(-frac)

    def adf_counts(self, probe_y_nm, probe_x_nm, t_s, dwell_s: float, *, noise: bool = True) -> np.ndarray:
        """ADF signal (electrons) at microscope positions (any shape) and times: the same
        composition as :meth:`haadf_counts` with the ADF scattering weights."""
        comp = self.composition(probe_y_nm, probe_x_nm, t_s)
        expected = (self.adf_fraction(comp) * self.electrons(dwell_s)).reshape(np.shape(probe_y_nm))
        return poisson_counts(expected, self.next_noise_seed()) if noise else expected.astype(np.float32)

    # -- laser coupling --------------------------------------------------------------------
    def beta(self, comp: LocalComposition) -> np.ndarray:
        """Coupling |β| (N,) of the electrons to the laser-driven near fields, 0 when dark.

        |β| = Σ_p β_p(1 mW) · sqrt(P / 1 mW) · sqrt(L_p(ħω)) · exp(-b_p / L_p), with L_p the
        particle's Lorentzian resonance normalised to 1 at its centre (so the gain, ∝ |β|², follows
        the Lorentzian) and b_p the impact parameter.
        """
        n = comp.impact_nm.shape[0]
        self._update_states()
        laser = self.laser
        if not laser.illuminating:
            return np.zeros(n)
        hw = laser.photon_energy_eV
        beta = np.zeros(n)
        for j, p in enumerate(self.specimen.particles):
            half = p.resonance_fwhm_eV / 2
            lorentz = half * half / ((hw - p.resonance_eV) ** 2 + half * half)
            amp = p.beta_at_1mW * np.sqrt(laser.power_uW / 1000.0) * np.sqrt(lorentz)
            beta += amp * np.exp(-comp.impact_nm[:, j] / p.decay_length_nm)
        return beta

    def sideband_populations(self, beta: np.ndarray) -> dict[int, np.ndarray]:
        """P_ℓ (N,) for every order ℓ that matters; ℓ > 0 is gain. Includes the duty cycle d:
        P_ℓ = d·J_ℓ²(2|β|) + (1 − d)·δ_ℓ0."""
        d = self.laser.duty_cycle if self.laser.illuminating else 0.0
        pops = {0: np.ones_like(beta)}
        if d <= 0 or not np.any(beta > 0):
            return pops
        pops[0] = d * special.jv(0, 2 * beta) ** 2 + (1 - d)
        ell = 1
        while True:
            p = d * special.jv(ell, 2 * beta) ** 2
            if p.max() < _SIDEBAND_CUTOFF:
                break
            pops[ell] = p
            pops[-ell] = p.copy()
            ell += 1
        return pops

    # -- EELS ------------------------------------------------------------------------------
    def _basis(self, shift_eV: float) -> np.ndarray:
        """Basis spectra (K, channels) on the camera axis, evaluated at E + shift_eV."""
        s = self.spectrometer
        key = (s.energy_offset_eV, s.dispersion_eV_per_channel, s.channels, self.beam.zlp_fwhm_eV,
               round(shift_eV, 9))
        basis = self._basis_cache.get(key)
        if basis is None:
            edges = spectra.channel_edges(self.energy_axis_eV()) + shift_eV
            fwhm = self.beam.zlp_fwhm_eV
            rows = [spectra.zlp(edges, fwhm)]
            rows += [spectra.valence_order(edges, n) for n in range(1, spectra.MAX_PLASMON_ORDER + 1)]
            rows += [spectra.edge_shape(edges, e, fwhm) for e in spectra.EDGES]
            rows += [spectra.loss_lorentzian(edges, p.resonance_eV, p.resonance_fwhm_eV)
                     for p in self.specimen.particles]
            # plural scattering: each edge / particle plasmon convolved with valence orders 1 … M
            # (orders fastest), in the order of the rare events' weights
            rows += [r for e in spectra.EDGES for r in spectra.edge_plural_orders(edges, e, fwhm)]
            rows += [r for p in self.specimen.particles
                     for r in spectra.lsp_plural_orders(edges, p.resonance_eV, p.resonance_fwhm_eV)]
            basis = np.array(rows)
            if len(self._basis_cache) > 64:
                self._basis_cache.clear()
            self._basis_cache[key] = basis
        return basis

    def _weights(self, comp: LocalComposition) -> np.ndarray:
        """Per-position weights (N, K) matching :meth:`_basis`; each row sums to 1 (with the
        unit-area shapes of :mod:`~detectors.simulation.spectra`: counts = dose).

        An electron suffers Poisson(t/λ) valence events and, independently, at most one rare
        event: a core loss to edge k or a particle plasmon j, with odds n_k·σ_k (σ_k =
        :func:`spectra.edge_area_nm2`) and p_j against 1 for neither: probabilities
        n_k·σ_k·none, p_j·none, none = 1 / (1 + Σ n_k·σ_k + Σ p_j) (≈ the Poisson exp(−Σ) of one
        rare event at most). Every outcome is convolved with the same valence orders: weight
        P_m(t/λ)·none for the ZLP (m = 0) and valence order m, P_m(t/λ)·n_k·σ_k·none for edge k
        convolved with order m — so edge / ZLP = n·σ in every order, the plural part of an edge is
        the low-loss's convolution (what the ratio method and exspy's ``low_loss=`` assume).
        """
        tl = comp.t_over_lambda
        order = np.arange(spectra.MAX_PLASMON_ORDER + 1)
        poisson = np.exp(-tl[:, None]) * tl[:, None] ** order / special.factorial(order)
        poisson[:, -1] += np.clip(1.0 - poisson.sum(axis=1), 0.0, None)  # orders above the last
        n = tl.size
        atoms = np.stack([comp.areal_density_per_nm2(e.element) for e in spectra.EDGES], axis=1)
        decay = np.array([p.decay_length_nm for p in self.specimen.particles]).reshape(1, -1)
        lsp = spectra.LSP_PROBABILITY * np.exp(-2 * comp.impact_nm.reshape(n, -1) / decay)
        areas = np.array([spectra.edge_area_nm2(e) for e in spectra.EDGES])
        none = 1.0 / (1.0 + atoms @ areas + lsp.sum(axis=1))
        # the edge rows have area σ_k per atom/nm² and the particle rows unit area
        per_area = np.concatenate([atoms, lsp], axis=1) * none[:, None]
        plural = (per_area[:, :, None] * poisson[:, None, 1:]).reshape(n, -1)
        return np.concatenate([none[:, None] * poisson, per_area * poisson[:, :1], plural], axis=1)

    def eels_fraction(self, comp: LocalComposition) -> np.ndarray:
        """Noise-free spectra (N, channels): fraction of the electrons per channel, with the
        laser's sidebands: S_on(E) = Σ_ℓ P_ℓ · S(E + ℓħω) (gain ℓ > 0 appears at E = −ℓħω)."""
        weights = self._weights(comp)
        pops = self.sideband_populations(self.beta(comp))
        hw = self.laser.photon_energy_eV
        out = np.zeros((weights.shape[0], self.spectrometer.channels))
        for ell, p in pops.items():
            out += (weights * p[:, None]) @ self._basis(ell * hw)
        return out

    def eels_counts(self, probe_y_nm, probe_x_nm, t_s, exposure_s: float, *, noise: bool = True) -> np.ndarray:
        """Spectra (…, channels) summed over the non-dispersive axis, in electrons."""
        shape = np.shape(probe_y_nm)
        comp = self.composition(np.ravel(probe_y_nm), np.ravel(probe_x_nm), np.ravel(np.broadcast_to(t_s, shape)))
        expected = self.eels_fraction(comp) * self.electrons(exposure_s)
        expected = expected.reshape(shape + (self.spectrometer.channels,))
        return poisson_counts(expected, self.next_noise_seed()) if noise else expected.astype(np.float32)

    def nondispersive_profile(self, rows: int | None = None) -> np.ndarray:
        """Fraction of each spectrum's electrons in each camera row (sums to 1)."""
        rows = rows or self.camera_rows
        y = np.arange(rows) - (rows - 1) / 2
        prof = np.exp(-0.5 * (y / self.nondispersive_sigma_rows) ** 2) + 2e-3  # weak stray halo
        return prof / prof.sum()

    def queue_probe_positions(self, y_nm: np.ndarray, x_nm: np.ndarray) -> None:
        """Positions (microscope frame, nm) for the next camera frames, one per frame: how a scan
        generator steps the probe for a pixel-synchronised camera (used by the simulated Merlin in
        a spectrum image). Frames beyond the queue see the parked probe."""
        with self.lock:
            self._probe_queue = (np.concatenate([self._probe_queue[0], np.ravel(y_nm)]),
                                 np.concatenate([self._probe_queue[1], np.ravel(x_nm)]))

    def _next_probe_positions(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        qy, qx = self._probe_queue
        k = min(n, qy.size)
        py = np.concatenate([qy[:k], np.full(n - k, self.beam.probe_y_nm)])
        px = np.concatenate([qx[:k], np.full(n - k, self.beam.probe_x_nm)])
        self._probe_queue = (qy[k:], qx[k:])
        return py, px

    def eels_frames(self, n: int, exposure_s: float) -> np.ndarray:
        """``n`` camera frames (n, rows, channels) of counts at the probe position(s) (the queued
        ones first, see :meth:`queue_probe_positions`), letting ``n · exposure_s`` pass."""
        start = time.monotonic()
        with self.lock:
            t0 = self.clock.now_s()
            times = t0 + exposure_s * (np.arange(n) + 0.5)
            py, px = self._next_probe_positions(n)
            spectra_expected = self.eels_counts(py, px, times, exposure_s, noise=False)
            expected = spectra_expected[:, None, :] * self.nondispersive_profile()[None, :, None]
            frames = self.camera_frame_noise(expected)
            self.pace(start, n * exposure_s)
        return frames

    def camera_frame_noise(self, expected: np.ndarray) -> np.ndarray:
        """Counting noise on expected camera counts (a counting detector: Poisson, no read noise)."""
        return poisson_counts(expected, self.next_noise_seed())

    def acquire_spectra(self, n: int, exposure_s: float) -> np.ndarray:
        """``n`` summed spectra (n, channels) at the current probe, advancing the clock (paced:
        in scaled time the computing counts towards the exposure, see :meth:`pace`)."""
        wall_start = time.monotonic()
        t0 = self.clock.now_s()
        times = t0 + exposure_s * (np.arange(n) + 0.5)
        out = self.eels_counts(np.full(n, self.beam.probe_y_nm), np.full(n, self.beam.probe_x_nm), times, exposure_s)
        self.pace(wall_start, n * exposure_s)
        return out

    # -- CL --------------------------------------------------------------------------------
    def cl_emission(self, comp: LocalComposition, wavelength_nm: np.ndarray) -> np.ndarray:
        """Photons per electron per nm (N, W) emitted towards the CL mirror.

        Each particle radiates its plasmon (a Lorentzian in energy) with probability ∝
        exp(-2b/L); Dy³⁺ in the oxide emits its 4F9/2 → 6H15/2 (483 nm) and → 6H13/2 (575 nm)
        lines; carbon gives a weak broad background.
        """
        wl = np.asarray(wavelength_nm, dtype=np.float64)
        energy = HC_EV_NM / wl
        jac = HC_EV_NM / wl ** 2  # |dE/dλ|, converts per-eV to per-nm
        out = np.zeros((comp.impact_nm.shape[0], wl.size))
        for j, p in enumerate(self.specimen.particles):
            half = p.resonance_fwhm_eV / 2
            shape = (half / np.pi) / ((energy - p.resonance_eV) ** 2 + half * half) * jac
            out += 1e-3 * np.exp(-2 * comp.impact_nm[:, j] / p.decay_length_nm)[:, None] * shape[None, :]
        dy = comp.areal_density_per_nm2("Dy")[:, None]
        for centre, strength in ((483.0, 1.0), (575.0, 1.6)):
            out += 2e-7 * strength * dy * np.exp(-0.5 * ((wl - centre) / 2.0) ** 2)[None, :] / (2.0 * np.sqrt(2 * np.pi))
        out += 1e-8 * comp.thickness_nm["carbon"][:, None] * np.exp(-0.5 * ((wl - 450.0) / 80.0) ** 2)[None, :]
        return out

    # -- pacing ----------------------------------------------------------------------------
    def pace(self, wall_start: float, duration_s: float) -> None:
        """Let ``duration_s`` of simulated time pass for an acquisition that started at
        ``time.monotonic() == wall_start``: in scaled time only the remainder is waited, so the
        computing already done counts towards the exposure (devices keep up with real time)."""
        if self.clock.is_virtual:
            self.clock.advance(duration_s)
            return
        remaining = duration_s / self.clock.speed - (time.monotonic() - wall_start)
        if remaining > 0:
            time.sleep(remaining)

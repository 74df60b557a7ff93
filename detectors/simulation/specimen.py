"""The simulated specimen: plasmonic particles and Sc/Dy oxide grains on a thin carbon film.

Coordinates are specimen coordinates in nm, (y, x), centred on the middle of the grid. Everything
is generated from one seed, so a specimen is reproducible. Evaluation is vectorised over arrays of
positions: :meth:`Specimen.local_composition` returns, per position, the thickness of every
material under the probe and the impact parameter to every particle.

Materials and what they contribute
----------------------------------
``carbon``   amorphous carbon film, ~15 nm with a fine random thickness texture (this texture is
             what drift registration locks on to, as on a real film); a vacuum hole cuts it.
``Sc2O3``, ``Dy2O3``, ``DyScO3``  oxide grains (ellipsoidal lenses, 20–60 nm thick) carrying the
             Sc L2,3, Dy M4,5 / N4,5 and O K edges.
``Au``       plasmonic spheres; each has an optical resonance (centre energy, FWHM) and a near
             field decaying as exp(-b / L) with the impact parameter b.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

#: atoms per nm³ of each element in each material (order-of-magnitude densities)
MATERIAL_ATOM_DENSITY_PER_NM3: dict[str, dict[str, float]] = {
    "carbon": {"C": 100.0},            # a-C, 2.0 g/cm³
    "Sc2O3": {"Sc": 33.0, "O": 49.5},  # 3.86 g/cm³
    "Dy2O3": {"Dy": 26.0, "O": 39.0},  # 7.8 g/cm³
    "DyScO3": {"Dy": 16.3, "Sc": 16.3, "O": 49.0},  # 6.9 g/cm³
    "Au": {"Au": 59.0},
}
#: inelastic mean free path at 100 kV, nm (t/λ of each material adds up)
INELASTIC_MFP_NM: dict[str, float] = {"carbon": 160.0, "Sc2O3": 110.0, "Dy2O3": 95.0,
                                      "DyScO3": 100.0, "Au": 85.0}
#: HAADF scattering fraction per nm of material (Z-contrast, roughly ∝ ρ·Z^1.7)
HAADF_FRACTION_PER_NM: dict[str, float] = {"carbon": 1.5e-4, "Sc2O3": 1.6e-3, "Dy2O3": 3.5e-3,
                                           "DyScO3": 2.8e-3, "Au": 5.5e-3}
#: ADF (lower inner angle, ~30–80 mrad) scattering fraction per nm: more signal, weaker Z-contrast
#: (roughly ∝ ρ·Z^1.2), so the carbon support shows where HAADF barely sees it
ADF_FRACTION_PER_NM: dict[str, float] = {"carbon": 1.2e-3, "Sc2O3": 5.0e-3, "Dy2O3": 7.5e-3,
                                         "DyScO3": 6.5e-3, "Au": 9.0e-3}
OXIDES = ("Sc2O3", "Dy2O3", "DyScO3")
MATERIALS = ("carbon",) + OXIDES + ("Au",)


@dataclasses.dataclass(frozen=True)
class Particle:
    """A plasmonic sphere with one optical (dipole) resonance."""

    y_nm: float
    x_nm: float
    radius_nm: float
    resonance_eV: float
    resonance_fwhm_eV: float
    decay_length_nm: float
    #: coupling |β| at the particle surface for 1 mW of laser power, on resonance, ungated
    beta_at_1mW: float

    @property
    def resonance_nm(self) -> float:
        return 1239.84 / self.resonance_eV

    @property
    def quality_factor(self) -> float:
        return self.resonance_eV / self.resonance_fwhm_eV


@dataclasses.dataclass(frozen=True)
class Grain:
    """An oxide grain: an ellipsoidal lens of maximum thickness ``thickness_nm``."""

    material: str
    y_nm: float
    x_nm: float
    semi_axis_a_nm: float
    semi_axis_b_nm: float
    angle_rad: float
    thickness_nm: float


@dataclasses.dataclass
class LocalComposition:
    """What is under the probe at N positions.

    ``thickness_nm[m]`` is the (N,) thickness of material ``m``; ``impact_nm`` is (N, P), the
    distance from each position to each particle's surface (0 inside).
    """

    thickness_nm: dict[str, np.ndarray]
    impact_nm: np.ndarray

    @property
    def t_over_lambda(self) -> np.ndarray:
        return sum(self.thickness_nm[m] / INELASTIC_MFP_NM[m] for m in MATERIALS)

    def areal_density_per_nm2(self, element: str) -> np.ndarray:
        """Atoms per nm² of ``element`` along the beam, (N,)."""
        total = np.zeros(np.shape(self.thickness_nm["carbon"]))
        for material, atoms in MATERIAL_ATOM_DENSITY_PER_NM3.items():
            if element in atoms:
                total += atoms[element] * self.thickness_nm[material]
        return total


class Specimen:
    """A deterministic specimen generated from ``seed``.

    Parameters
    ----------
    seed : int
        Everything random (positions, sizes, resonances, film texture) follows from it.
    size_nm : float
        Width of the square specimen area; positions outside wrap around (periodic), so any scan
        sees a film.
    film_thickness_nm : float
        Mean carbon film thickness.
    n_particles, n_grains : int
        How many gold spheres and oxide grains.
    texture_pitch_nm : float
        Grid pitch of the film-thickness texture (the finest specimen detail).
    """

    def __init__(self, seed: int = 0, *, size_nm: float = 2048.0, film_thickness_nm: float = 15.0,
                 n_particles: int = 5, n_grains: int = 16, texture_pitch_nm: float = 1.0) -> None:
        if size_nm <= 0 or texture_pitch_nm <= 0:
            raise ValueError(f"size_nm and texture_pitch_nm must be > 0, got {size_nm}, {texture_pitch_nm}")
        self.seed = seed
        self.size_nm = float(size_nm)
        self.film_thickness_nm = float(film_thickness_nm)
        self.texture_pitch_nm = float(texture_pitch_nm)
        rng = np.random.default_rng([seed, 0x5EC])
        half = size_nm / 2
        # vacuum hole in one corner region of the default field of view
        self.hole_center_nm = (-0.45 * half, 0.55 * half)
        self.hole_radius_nm = 0.3 * half
        self.particles = self._make_particles(rng, n_particles, half)
        self.grains = self._make_grains(rng, n_grains, half)
        self._texture = self._make_texture(rng)

    # -- generation ------------------------------------------------------------------------
    def _make_particles(self, rng: np.random.Generator, n: int, half: float) -> list[Particle]:
        particles: list[Particle] = []
        # the first particle sits near the centre so a default field of view shows it
        centres = [(0.12 * half * 0.3, -0.1 * half * 0.3)]
        while len(centres) < n:
            centres.append(tuple(rng.uniform(-0.8 * half, 0.8 * half, 2)))
        for cy, cx in centres:
            particles.append(Particle(
                y_nm=float(cy), x_nm=float(cx),
                radius_nm=float(rng.uniform(20.0, 45.0)),
                resonance_eV=float(rng.uniform(1.85, 2.25)),
                resonance_fwhm_eV=float(rng.uniform(0.10, 0.22)),
                decay_length_nm=float(rng.uniform(15.0, 30.0)),
                beta_at_1mW=float(rng.uniform(0.3, 0.6)),
            ))
        return particles

    def _make_grains(self, rng: np.random.Generator, n: int, half: float) -> list[Grain]:
        grains: list[Grain] = []
        for i in range(n):
            # keep the first few grains inside the default 512 nm field of view
            span = 0.2 * half if i < 6 else 0.85 * half
            cy, cx = rng.uniform(-span, span, 2)
            grains.append(Grain(
                material=OXIDES[i % 3], y_nm=float(cy), x_nm=float(cx),
                semi_axis_a_nm=float(rng.uniform(25.0, 70.0)),
                semi_axis_b_nm=float(rng.uniform(20.0, 50.0)),
                angle_rad=float(rng.uniform(0, np.pi)),
                thickness_nm=float(rng.uniform(20.0, 60.0)),
            ))
        return grains

    def _make_texture(self, rng: np.random.Generator) -> np.ndarray:
        n = int(round(self.size_nm / self.texture_pitch_nm))
        white = rng.standard_normal((n, n)).astype(np.float32)
        # amorphous film: correlation length of a few nm plus a weaker long-range undulation
        fine = ndimage.gaussian_filter(white, 1.5 / self.texture_pitch_nm, mode="wrap")
        coarse = ndimage.gaussian_filter(white, 25.0 / self.texture_pitch_nm, mode="wrap")
        fine /= fine.std()
        coarse /= coarse.std()
        return (1.0 + 0.25 * fine + 0.15 * coarse).clip(0.2, None).astype(np.float32)

    # -- evaluation ------------------------------------------------------------------------
    def _film_texture(self, y_nm: np.ndarray, x_nm: np.ndarray) -> np.ndarray:
        n = self._texture.shape[0]
        fy = (y_nm / self.texture_pitch_nm + n / 2) % n
        fx = (x_nm / self.texture_pitch_nm + n / 2) % n
        return ndimage.map_coordinates(self._texture, [fy.ravel(), fx.ravel()], order=1,
                                       mode="grid-wrap").reshape(y_nm.shape)

    def _wrap(self, v_nm: np.ndarray) -> np.ndarray:
        return (v_nm + self.size_nm / 2) % self.size_nm - self.size_nm / 2

    def local_composition(self, y_nm: np.ndarray, x_nm: np.ndarray) -> LocalComposition:
        """Thickness of each material and particle impact parameters at specimen positions.

        Parameters
        ----------
        y_nm, x_nm : ndarray
            Specimen coordinates (any equal shapes; flattened to N positions).
        """
        y = self._wrap(np.asarray(y_nm, dtype=np.float64).ravel())
        x = self._wrap(np.asarray(x_nm, dtype=np.float64).ravel())
        thickness = {m: np.zeros(y.shape) for m in MATERIALS}
        in_hole = (y - self.hole_center_nm[0]) ** 2 + (x - self.hole_center_nm[1]) ** 2 < self.hole_radius_nm ** 2
        thickness["carbon"] = np.where(in_hole, 0.0, self.film_thickness_nm * self._film_texture(y, x))
        for g in self.grains:
            dy, dx = y - g.y_nm, x - g.x_nm
            c, s = np.cos(g.angle_rad), np.sin(g.angle_rad)
            u = (c * dx + s * dy) / g.semi_axis_a_nm
            v = (-s * dx + c * dy) / g.semi_axis_b_nm
            r2 = u * u + v * v
            lens = np.sqrt(np.clip(1.0 - r2, 0.0, None)) * g.thickness_nm
            thickness[g.material] += np.where(in_hole, 0.0, lens)
        impact = np.empty((y.size, len(self.particles)))
        for j, p in enumerate(self.particles):
            d = np.hypot(y - p.y_nm, x - p.x_nm)
            thickness["Au"] += 2.0 * np.sqrt(np.clip(p.radius_nm ** 2 - d * d, 0.0, None))
            impact[:, j] = np.clip(d - p.radius_nm, 0.0, None)
        return LocalComposition(thickness, impact)

    def truth_maps(self, y_nm: np.ndarray, x_nm: np.ndarray) -> dict[str, np.ndarray]:
        """Ground truth for tests and training: areal densities (atoms/nm²) of Sc, Dy, O, C, Au
        and t/λ at the given positions, shaped like ``y_nm``."""
        comp = self.local_composition(y_nm, x_nm)
        shape = np.shape(y_nm)
        maps = {el: comp.areal_density_per_nm2(el).reshape(shape) for el in ("Sc", "Dy", "O", "C", "Au")}
        maps["t_over_lambda"] = comp.t_over_lambda.reshape(shape)
        return maps

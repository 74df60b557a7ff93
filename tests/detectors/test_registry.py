"""A device kind is one protocol and one registry: a new camera is one driver and one entry.

The toy camera below is registered the way a new driver package would register itself; the site
file names it, the site check accepts it (and runs its validation), and the instrument builds it,
pairs it with the scan generator into the workflows' spectrum imager and closes it.
"""
from __future__ import annotations

import numpy as np
import pytest

from detectors.config import ConfigError, load_config
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from detectors.registry import backends, get_backend, register_backend, unregister_backend
from detectors.scan.adapters import SynchronizedSpectrumImager


class ToyCamera:
    """An EELSCamera of 16 channels whose every spectrum is 0, 1, …, 15 counts."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.closed = False

    def energy_axis_eV(self) -> np.ndarray:
        return np.arange(16, dtype=float)

    def acquire_spectra(self, n: int, exposure_s: float) -> np.ndarray:
        return np.tile(np.arange(16, dtype=np.float32), (n, 1))

    def acquire_frames(self, n: int, exposure_s: float) -> np.ndarray:
        return self.acquire_spectra(n, exposure_s)[:, None, :]

    def close(self) -> None:
        self.closed = True


def _validate(table: dict) -> None:
    if table["host"] == "127.0.0.1":
        raise ValueError("eels_camera.host = '127.0.0.1' is not allowed; the toy camera is on the network")


@pytest.fixture
def toy_camera():
    register_backend("camera", "toy", lambda ctx: ToyCamera(ctx.settings["host"]), simulated=False,
                     validate=_validate)
    try:
        yield
    finally:
        unregister_backend("camera", "toy")


def _site(tmp_path, host: str):
    path = tmp_path / "site.toml"
    path.write_text(f'[eels_camera]\nbackend = "toy"\nhost = "{host}"\n', encoding="utf-8")
    return path


def test_a_registered_camera_is_built_from_a_site_file(toy_camera, tmp_path):
    with build_instrument(str(_site(tmp_path, "toy.example"))) as instrument:
        camera = instrument.eels_camera
        assert isinstance(camera, ToyCamera) and camera.host == "toy.example"
        assert isinstance(instrument.spectrum_imager, SynchronizedSpectrumImager)
        assert instrument.metadata()["devices"]["eels_camera"] == {"backend": "toy", "simulated": False}
        assert not instrument.fully_simulated  # a real camera: the instrument runs on the wall clock
        frame = ScanFrame(size_px=(2, 3), fov_nm=30.0, dwell_s=1e-3)
        si, haadf = instrument.spectrum_imager.acquire_spectrum_image(frame, 1e-3)
        assert si.shape == (2, 3, 16) and haadf.shape == (2, 3)
        assert np.array_equal(si[1, 2], np.arange(16))
    assert camera.closed


def test_the_site_check_lists_and_validates_registered_backends(toy_camera, tmp_path):
    with pytest.raises(ConfigError, match="eels_camera.host = '127.0.0.1' is not allowed; the toy camera"):
        load_config(_site(tmp_path, "127.0.0.1"))
    (tmp_path / "bad.toml").write_text('[eels_camera]\nbackend = "toy2"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="""eels_camera.backend = 'toy2' is not allowed; expected "simulated", """
                                          """"merlin-simulated", "merlin" or "toy\""""):
        load_config(tmp_path / "bad.toml")


def test_registration_refuses_a_second_entry_and_an_unknown_kind(toy_camera):
    with pytest.raises(ValueError, match="a camera backend named 'toy' is already registered"):
        register_backend("camera", "toy", lambda ctx: None, simulated=True)
    with pytest.raises(ValueError, match="device kind 'detector' is not one of scan, camera"):
        register_backend("detector", "x", lambda ctx: None, simulated=True)
    assert get_backend("scan", "tcp").simulated is False
    assert set(backends("vg")) == {"simulated", "serial"}

"""Site configuration: defaults, validation messages that name key, value and what is allowed."""
from __future__ import annotations

import pytest

from detectors.config import ConfigError, load_config
from detectors.instrument import build_instrument


def _write(tmp_path, text: str):
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_is_the_simulated_instrument():
    config = load_config(None)
    assert config["eels_camera"]["backend"] == "simulated"
    assert config.clock_speed is None
    instrument = build_instrument(config)
    assert instrument.world is not None


def test_values_from_a_site_file_reach_the_world(tmp_path):
    path = _write(tmp_path, """
[world]
seed = 11
clock_speed = 2.5
[world.drift]
rate_nm_per_min = [0.5, -1.0]
[beam]
current_pA = 150
[spectrometer]
energy_offset_eV = 300
dispersion_eV_per_channel = 0.5
""")
    instrument = build_instrument(str(path))
    world = instrument.world
    assert world.seed == 11 and world.clock.speed == 2.5
    assert world.drift.settings.rate_nm_per_min == (0.5, -1.0)
    assert world.beam.current_pA == 150
    assert world.energy_axis_eV()[0] == 300 and world.energy_axis_eV()[1] == 300.5


@pytest.mark.parametrize("text, words", [
    ("[beam]\ncurrent_pA = -3\n", ["beam.current_pA", "-3", "0 < current"]),
    ("[beam]\nhigh_tension_kV = 120\n", ["beam.high_tension_kV", "120", "40, 60, 80, 100"]),
    ("[eels_camera]\nbackend = 'timepix'\n", ["eels_camera.backend", "'timepix'", '"merlin"']),
    ("[world]\nclock_speed = 'fast'\n", ["world.clock_speed", "'fast'", '"virtual"']),
    ("[beam]\ncurrnet_pA = 3\n", ["unknown key beam.currnet_pA", "current_pA"]),
    ("[lazer]\nx = 1\n", ["unknown section [lazer]", "laser"]),
    ("[laser]\nwavelength_min_nm = 700\nwavelength_max_nm = 600\n", ["wavelength_min_nm = 700", "600"]),
    ("[world]\nseed = true\n", ["world.seed", "True"]),
])
def test_bad_values_are_named(tmp_path, text, words):
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    for word in words:
        assert word in str(info.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[beam\n"))


@pytest.mark.parametrize("text, message", [
    # the instrument's own tables and the devices' configs are read one way: the same messages
    ("[beam]\ncurent_pA = 3\nzlp = 1\n", "unknown keys beam.curent_pA, beam.zlp; known keys in [beam]: "),
    ("[vg.lenses]\nprot = 'x'\nbaud = 9600\n", "unknown keys vg.lenses.baud, vg.lenses.prot; known keys in [vg.lenses]: "),
    ("[spectrometer]\nchannels = 10.5\n", "spectrometer.channels = 10.5 is not allowed; expected an integer 1–65536"),
    ("[scan]\nmax_fov_nm = true\n", "scan.max_fov_nm = True is not allowed; expected a number > 0"),
    ("[vg.lenses]\nbaudrate = true\n", "vg.lenses.baudrate = True is not allowed; expected an integer"),
    ("[world.drift]\nrate_nm_per_min = [1.0, true]\n", "world.drift.rate_nm_per_min = [1.0, True] is not allowed"),
])
def test_site_tables_and_device_tables_speak_alike(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert message in str(info.value), str(info.value)

"""Every training scenario end to end, headless, with scripted trainee actions: a correct run passes,
a wrong one fails; the CLI; Start on an instrument someone else owns."""
from __future__ import annotations

import pytest

from detectors.instrument import build_instrument
from lumiere.cli import main
from lumiere.training import SCENARIOS, get_scenario

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_correct_run_passes_and_wrong_run_fails(name):
    scenario = SCENARIOS[name]
    good = scenario.run_auto(seed=2, correct=True)
    assert good.passed, good.text()
    bad = scenario.run_auto(seed=2, correct=False)
    assert not bad.passed, bad.text()
    assert good.lines and bad.lines


def test_reports_compare_with_the_hidden_truth():
    scenario = SCENARIOS["eegs-resonance"]
    with scenario.setup(3) as session:
        t = session.truth["resonance_eV"]
        assert scenario.check(session, {"resonance_eV": t + 0.01}).passed
        report = scenario.check(session, t + 0.2)
        assert not report.passed and f"truth {t:.3f} eV" in report.lines[0]
        assert scenario.check(session, scenario.parse_answer(f"{1239.84 / t:.1f}nm")).passed
    with pytest.raises(ValueError, match="unknown scenario"):
        get_scenario("nope")


def test_merlin_check_reads_the_detector_settings():
    scenario = SCENARIOS["merlin-tune"]
    with scenario.setup(1) as session:
        truth = session.truth
        answer = {"noisy_chip": truth["noisy_chip"],
                  "bad_pixels": [list(p) for p in truth["hot_pixels"] + truth["dead_pixels"]]}
        report = scenario.check(session, answer)  # left at 3 keV / 6 bit by the scenario
        assert not report.passed and "wrong" in report.lines[0]


def test_configure_on_an_instrument_owned_elsewhere_keeps_it_open():
    instrument = build_instrument()
    world = instrument.world
    try:
        session = SCENARIOS["cl-emission"].configure(instrument, owns_instrument=False)
        session.close()
        assert not instrument._closed
        world, instrument.world = instrument.world, None
        with pytest.raises(ValueError, match="simulated instrument"):
            SCENARIOS["eegs-resonance"].configure(instrument)
    finally:
        instrument.world = world
        instrument.close()


def test_cli_list_goal_check_and_auto(capsys):
    assert main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SCENARIOS)
    assert main(["train", "--scenario", "eegs-resonance", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "Goal:" in out and "lumiere train --check eegs-resonance --seed 4 --answer" in out
    with SCENARIOS["eegs-resonance"].setup(4) as session:
        t = session.truth["resonance_eV"]
    assert main(["train", "--check", "eegs-resonance", "--seed", "4", "--answer", f"{t:.3f}"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["train", "--check", "eegs-resonance", "--seed", "4", "--answer", f"{t + 0.3:.3f}"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["train", "--check", "eegs-resonance", "--answer", "blue"]) == 1  # clear error, no traceback
    assert "expected a resonance" in capsys.readouterr().err
    assert main(["train", "--scenario", "cl-emission", "--auto", "--seed", "2"]) == 0
    assert "PASS" in capsys.readouterr().out

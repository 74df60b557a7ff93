"""``lumiere merlin-sim`` entry point."""
from __future__ import annotations

import re
import threading

from detectors.merlin.control import MerlinControl
from detectors.merlin.sim_cli import main


def test_refuses_non_loopback_host_without_allow_remote(capsys):
    assert main(["--host", "192.0.2.10", "--control-port", "0", "--data-port", "0"]) == 2
    assert "192.0.2.10" in capsys.readouterr().err


def test_runs_on_free_ports_and_answers_until_stopped(capsys):
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(["--control-port", "0", "--data-port", "0"], stop)))
    thread.start()
    try:
        match = None
        for _ in range(1000):
            match = re.search(r"control_port=(\d+) data_port=(\d+)", capsys.readouterr().out)
            if match:
                break
            thread.join(0.01)
        assert match, "simulator never printed its ports"
        with MerlinControl("127.0.0.1", int(match.group(1))) as control:
            assert control.get_int("IMAGEX") == 1024
    finally:
        stop.set()
        thread.join(10)
    assert codes == [0]

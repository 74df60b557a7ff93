"""Task control: progress mapping of subtasks, shared abort and its reason."""
from __future__ import annotations

import pytest

from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl


def test_subtasks_share_the_abort_flag_and_its_reason():
    parent = TaskControl()
    child = parent.subtask(0.5, 0.5).subtask(0.0, 1.0)
    parent.abort("aborted from the panel")
    child.abort("a later, second reason")
    assert child.aborted and child.abort_reason == "aborted from the panel"
    with pytest.raises(Aborted, match="aborted from the panel"):
        child.check_abort()


def test_subtask_progress_maps_into_the_parent_range():
    seen = []
    parent = TaskControl(lambda f, m: seen.append((round(f, 3), m)))
    parent.subtask(0.2, 0.5).progress(0.5, "half")
    assert seen == [(0.45, "half")]


def test_worker_thread_keeps_what_the_target_raised():
    import threading

    from lumiere.tasks import WorkerThread

    release = threading.Event()
    calls = []

    def target():
        release.wait(5)
        calls.append(threading.current_thread().name)
        raise RuntimeError("laser interlock open")

    worker = WorkerThread(target, name="lumiere-test-worker").start()
    worker.join(0.01)
    assert worker.thread.is_alive() and worker.error is None  # still running: nothing to report yet
    release.set()
    worker.join(5)
    assert calls == ["lumiere-test-worker"] and worker.thread.daemon
    assert isinstance(worker.error, RuntimeError) and "interlock" in str(worker.error)
    ok = WorkerThread(lambda: None, name="fine").start()
    ok.join(5)
    assert ok.error is None


def test_docstring_examples():
    import doctest

    import lumiere.tasks

    result = doctest.testmod(lumiere.tasks)
    assert result.attempted > 0 and result.failed == 0


def test_the_cli_exits_130_on_an_abort_raised_inside_a_subcommand(tmp_path, monkeypatch, capsys):
    # one abort type: the one a device call or check_abort raises ends the CLI as Ctrl-C does
    from lumiere import cli

    (tmp_path / "toy_abort_cmd.py").write_text(
        "from detectors.interfaces import Aborted\n"
        "def add_arguments(parser):\n    pass\n"
        "def run(args):\n    raise Aborted('interlock: column valve closed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.SUBCOMMANDS, "toy-abort", ("toy_abort_cmd", "raises Aborted"))
    assert cli.main(["toy-abort"]) == 130
    err = capsys.readouterr().err
    assert "interrupted: devices left safe; no data was written to disk" in err, err

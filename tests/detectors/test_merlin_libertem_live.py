"""Third-party clients against our simulator: LiberTEM-live's control client and Rust data receiver."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.merlin.control import MerlinControl as OurControl
from detectors.merlin.frame_sources import PatternSource
from detectors.merlin.simulator import MerlinSimulator


@pytest.mark.parametrize("depth", [6, 12])
def test_libertem_live_receives_exact_frames_from_the_simulator(depth):
    from libertem.executor.inline import InlineJobExecutor
    from libertem.udf.sum import SumUDF
    from libertem_live.api import LiveContext
    from libertem_live.detectors.merlin.control import MerlinControl

    source = PatternSource((256, 1024), (1 << depth) - 1)
    with MerlinSimulator(frame_source=source, record_frames=True) as sim:
        with MerlinControl("127.0.0.1", sim.control_port) as control:   # sends GET,<NAME>,0
            control.set("COUNTERDEPTH", depth)
            control.set("NUMFRAMESTOACQUIRE", 6)
            control.set("ACQUISITIONTIME", 0.5)
            assert control.get("NUMFRAMESTOACQUIRE") == b"6" and control.get("IMAGEX") == b"1024"
        ctx = LiveContext(executor=InlineJobExecutor(), plot_class=None)
        try:
            with ctx.make_connection("merlin").open(data_host="127.0.0.1", data_port=sim.data_port,
                                                    api_host="127.0.0.1", api_port=sim.control_port) as conn:
                with OurControl("127.0.0.1", sim.control_port) as ours:
                    ours.start_acquisition()
                pending = conn.wait_for_acquisition(10.0)
                assert pending is not None and pending.nimages == 6
                acquisition = ctx.make_acquisition(conn=conn, pending_aq=pending, frames_per_partition=6,
                                                   nav_shape=(2, 3))
                summed = np.asarray(ctx.run_udf(dataset=acquisition, udf=SumUDF())["intensity"].data)
        finally:
            ctx.close()
        np.testing.assert_array_equal(summed, np.stack(sim.recorded_frames).sum(axis=0))

"""Issue 15: results in Swift read themselves. Headless: every result display is of the right kind
(image vs line plot with named layers), calibrated and labelled, and its display limits put the
EEGS sidebands inside the visible range (not saturated, not black) while the ZLP saturates."""
from __future__ import annotations

import time

import numpy as np
import pytest
from nion.swift.test import TestContext

from lumiere.sinks import Axis
from nionswift_plugin.lumiere import displays


def _run_until_idle(handler, document_controller, timeout_s=120.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        document_controller.periodic()
        if not handler.running.value:
            document_controller.periodic()
            return
        time.sleep(0.01)
    raise AssertionError(f"panel still running after {timeout_s} s: {handler.status.value}")


def _display(document_controller, data_item):
    return document_controller.document_model.get_display_item_for_data_item(data_item)


def _layers(display_item):
    return [(layer.label, layer.data_row) for layer in display_item.display_layers]


# -- pure view rules -------------------------------------------------------------------------------
def test_table_becomes_labelled_line_plot_with_time_axis_and_keeps_the_table():
    columns = ["time_s", "dy_nm", "dx_nm", "quality"]
    table = np.array([[0.0, 0.1, -0.2, 0.9], [2.0, 0.5, -0.4, 0.8], [4.1, 0.9, -0.9, 0.95], [0, 0, 0, 0]])
    meta = {"columns": columns, "display": {"plot": ["dy_nm", "dx_nm"], "x": "time_s",
                                            "labels": {"dy_nm": "y drift"}}}
    view = displays.table_view(table, [Axis("sequence", "", navigate=True), Axis("column", "")], meta, rows_done=3)
    assert view.kind == "line_plot" and view.layers == ["y drift", "dx"]
    assert view.xdata.data_shape == (2, 3), "unwritten rows are not plotted as zeros"
    x = view.xdata.dimensional_calibrations[1]
    assert (x.units, x.offset) == ("s", 0.0) and x.scale == pytest.approx(2.05)
    assert view.xdata.intensity_calibration.units == "nm"
    np.testing.assert_allclose(view.xdata.data[1], [-0.2, -0.4, -0.9], rtol=1e-6)
    cols, rows = displays.table_from_xdata(view.xdata)
    assert cols == columns and rows.shape == (3, 4) and rows[2, 0] == pytest.approx(4.1)
    # uneven times: the polyline through the points sampled on a uniform time grid
    table[2, 0] = 9.0
    view = displays.table_view(table, [Axis("sequence", "", navigate=True), Axis("column", "")], meta, rows_done=3)
    x = view.xdata.dimensional_calibrations[1]
    assert view.xdata.data_shape == (2, 512) and x.units == "s" and x.offset + 511 * x.scale == pytest.approx(9.0)
    t = x.offset + x.scale * np.arange(512)
    # through the points, to the grid's resolution (a corner is cut by under 1/16 of a segment)
    np.testing.assert_allclose(np.interp([0.0, 2.0, 9.0], t, view.xdata.data[0]), [0.1, 0.5, 0.9], atol=0.01)
    assert "joined by straight lines" in view.caption
    # times going backwards (not a time axis): the table's own axis
    table[2, 0] = 1.0
    view = displays.table_view(table, [Axis("sequence", "", navigate=True), Axis("column", "")], meta, rows_done=3)
    assert view.xdata.dimensional_calibrations[1].units == "" and view.xdata.data_shape == (2, 3)
    # no hint: the columns sharing the commonest unit
    view = displays.table_view(table, [Axis("point", "", navigate=True), Axis("column", "")],
                               {"columns": columns}, rows_done=3)
    assert view.layers == ["dy", "dx"]


def test_sideband_limits_saturate_the_zlp_not_the_sidebands():
    e = np.arange(-20, 82, 0.1)
    hw = 1239.84 / np.array([600.0, 650.0])
    rows = []
    for w in hw:
        s = 1e6 * np.exp(-0.5 * (e / 0.15) ** 2) + 5.0
        for order, amp in ((1, 3e3), (2, 4e2), (-1, 2e3)):
            s += amp * np.exp(-0.5 * ((e + order * w) / 0.15) ** 2)
        rows.append(s)
    low, high = displays.sideband_limits(np.array(rows), e, hw)
    assert 3e3 < high < 1e4 and low <= 6, (low, high)
    assert displays.sideband_window_eV(hw) == pytest.approx((-3.5 * hw.max(), 3.5 * hw.max()))
    assert displays.axis_label(Axis("Energy loss", "eV")) == "Energy loss (eV)"
    assert displays.axis_label(Axis("column", "s")) == "Time (s)"


def test_gain_plot_is_uniform_in_photon_energy_with_the_fit_as_second_row():
    from analysis.sidebands import fit_lorentzian, lorentzian

    hw = 1239.84 / np.arange(600.0, 701.0, 10.0)
    gain = lorentzian(hw, 1.9, 0.15, 2e-3, 1e-4)
    fit = fit_lorentzian(hw, gain)
    plot, axis = displays.gain_plot(hw, gain, fit, points=101)
    assert plot.shape == (2, 101) and axis.units == "eV" and axis.offset == pytest.approx(hw.min())
    assert axis.offset + 100 * axis.scale == pytest.approx(hw.max())
    np.testing.assert_allclose(plot[0][[0, -1]], gain[[-1, 0]], rtol=1e-9)  # the measured end points
    assert np.nanmax(np.abs(plot[1] - plot[0])) < 0.1 * gain.max()
    text = displays.resonance_text({"resonance_centre_eV": 1.9, "resonance_centre_err_eV": 0.004,
                                    "resonance_centre_nm": 652.5, "resonance_fwhm_eV": 0.15,
                                    "resonance_fwhm_err_eV": 0.009, "resonance_q": 12.7, "resonance_q_err": 0.8})
    assert text == "Resonance 1.900 ± 0.004 eV (652.5 nm), FWHM 150 ± 9 meV, Q = 12.7 ± 0.8"
    with pytest.raises(ValueError, match="at least 2 measured points, got 1"):
        displays.gain_plot(hw[:1], gain[:1], None)


# -- in Swift (headless) ----------------------------------------------------------------------------
def test_eegs_results_read_without_touching_display_settings(swift):
    """The issue's setting: spectra −20…82 eV at 0.1 eV/channel with a ~10⁶-count ZLP."""
    from nionswift_plugin.lumiere.panels import EEGSWavelengthScanHandler

    test_setup = TestContext.TestSetup()  # keep alive: it owns the event loop
    world = swift.devices.instrument.world
    p = world.specimen.particles[0]
    world.beam.probe_y_nm, world.beam.probe_x_nm = p.y_nm, p.x_nm + p.radius_nm + 7.5
    saved = world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -20.0, 0.1
    try:
        with TestContext.create_memory_context() as context:
            document_controller = context.create_document_controller()
            handler = EEGSWavelengthScanHandler(document_controller)
            for name, value in (("start_nm", "600"), ("stop_nm", "720"), ("step_nm", "20"),
                                ("spectra_per_point", "2"), ("exposure_ms", "10")):
                handler.models[name].value = value
            handler.start_clicked()
            _run_until_idle(handler, document_controller)
            assert handler.status.value.startswith("Done."), handler.status.value
            sink = handler.sink

            # the λ × E map's own item: the whole map (nm × eV), shown as its spectra labelled by λ
            # on the sideband window, the ZLP off scale
            item = sink.data_item("eegs")
            data = item.data
            display = _display(document_controller, item)
            assert display.used_display_type == "line_plot" and data.shape[0] == 7
            assert [c.units for c in item.dimensional_calibrations] == ["nm", "eV"]
            assert item.intensity_calibration.units == "counts"
            assert _layers(display) == [(f"{600 + 20 * i} nm", i) for i in range(7)]
            assert display.get_display_property("legend_position") == "top-right"
            e = item.dimensional_calibrations[1].offset + item.dimensional_calibrations[1].scale * np.arange(data.shape[1])
            hw = 1239.84 / (600.0 + 20.0 * np.arange(data.shape[0]))
            left, right = display.get_display_property("left_channel"), display.get_display_property("right_channel")
            assert e[left] == pytest.approx(-3.5 * hw.max(), abs=0.1) and e[right - 1] == pytest.approx(3.5 * hw.max(), abs=0.1)
            y_max = display.get_display_property("y_max")
            assert np.nanmax(data[:, (np.abs(e) > 1.0) & (np.abs(e) < 3.5 * hw.max())]) <= y_max < data.max() / 10

            # the map as an image: the sideband window, nm × eV; the ZLP saturates, the gain sidebands do not
            window = sink.derived_item("eegs", "(sideband window)")
            wd = _display(document_controller, window)
            assert wd.used_display_type == "image" and window.intensity_calibration.units == "counts"
            cal, cal_wl = window.dimensional_calibrations[1], window.dimensional_calibrations[0]
            assert (cal_wl.units, cal.units) == ("nm", "eV") and cal.offset == pytest.approx(-3.5 * hw.max(), abs=0.1)
            h, w = window.data.shape
            assert abs(w - 7 * hw.max() / 0.1) <= 2 and w / 3 - 7 <= h <= w / 3, "at most 3:1 wide, not a line"
            repeat = h // 7
            np.testing.assert_array_equal(window.data[::repeat], data[:, round((cal.offset + 20) / 0.1):][:, :w])
            centres = cal_wl.offset + cal_wl.scale * (np.arange(7) * repeat + (repeat - 1) / 2)
            np.testing.assert_allclose(centres, 600.0 + 20.0 * np.arange(7))  # each λ at its block's centre
            assert window.metadata["lumiere"]["rows_repeated"] == repeat and f"shown {repeat}×" in window.caption
            low, high = wd.display_data_channels[0].display_limits
            gains = []
            for row, w_eV in zip(data, hw):
                gain1 = row[np.abs(e + w_eV) < 0.3].max()
                # off resonance the sideband is weaker (that is the measurement) but above the floor
                assert low + 0.05 * (high - low) < gain1 <= high, f"first gain sideband {gain1} vs limits {low, high}"
                assert row[np.abs(e) < 0.2].max() > 10 * high, "the ZLP is far above the limits (saturated)"
                gains.append(gain1)
            assert max(gains) > low + 0.7 * (high - low), "the resonant sideband fills the range"
            assert "ZLP saturates" in window.caption

            # laser-off spectrum: opened on the sideband window, ZLP off scale
            off = sink.data_item("eegs_laser_off")
            od = _display(document_controller, off)
            left, right = od.get_display_property("left_channel"), od.get_display_property("right_channel")
            assert e[left] == pytest.approx(-3.5 * hw.max(), abs=0.1) and e[right - 1] == pytest.approx(
                3.5 * hw.max(), abs=0.1)
            assert od.get_display_property("y_max") < off.data.max() / 10

            # power log and analysis: line plots with named layers, never bar charts; tables in metadata
            power = sink.data_item("eegs_power")
            pd = _display(document_controller, power)
            assert pd.used_display_type == "line_plot" and _layers(pd) == [("power in", 0), ("power out", 1)]
            assert power.dimensional_calibrations[1].units == "nm" and power.intensity_calibration.units == "µW"
            assert displays.table_from_xdata(power.xdata)[1].shape == (7, 4)
            analysis = sink.data_item("eegs_analysis")
            ad = _display(document_controller, analysis)
            assert [label for label, _ in _layers(ad)] == ["gain ℓ=1 / ZLP", "gain ℓ=2 / ZLP", "loss ℓ=1 / ZLP"]
            assert analysis.dimensional_calibrations[1].units == "nm"

            # gain vs photon energy with the fit as a second layer; the fit in title, metadata, panel
            gain = sink.data_item("eegs_gain")
            gd = _display(document_controller, gain)
            assert gd.used_display_type == "line_plot" and _layers(gd) == [("measured gain", 0), ("Lorentzian fit", 1)]
            assert gain.dimensional_calibrations[1].units == "eV" and gain.intensity_calibration.units == "1/µW"
            meta = gain.metadata["lumiere"]
            assert 0 < meta["resonance_centre_err_eV"] < 0.1 and "± " in gain.title and "Q = " in gain.title
            assert np.isfinite(gain.data[1]).all() and np.nanmax(gain.data[0]) > 0
            assert handler.result_text.value.startswith("Resonance ") and " ± " in handler.result_text.value
            assert gain.caption == handler.result_text.value
            # the menu's EEGS-orders computation still reads the power from the plotted power log
            from nionswift_plugin.lumiere.computations_eegs import scan_result_from_xdata

            scan = scan_result_from_xdata(item.xdata, off.xdata, power.xdata)
            np.testing.assert_allclose(scan.power_uW, displays.table_from_xdata(power.xdata)[1][:, 1])
    finally:
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = saved


def test_drift_si_results_read_without_touching_display_settings(swift):
    from nionswift_plugin.lumiere.panels import DriftCorrectedSIHandler

    test_setup = TestContext.TestSetup()
    world = swift.devices.instrument.world
    saved = world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel, world.beam.current_pA
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    world.beam.current_pA = 200.0
    try:
        with TestContext.create_memory_context() as context:
            document_controller = context.create_document_controller()
            handler = DriftCorrectedSIHandler(document_controller)
            for name, value in (("si_fov_nm", "96"), ("size_px", "16"), ("n_sequences", "3"), ("dwell_ms", "1"),
                                ("edges", "Sc L2,3")):
                handler.models[name].value = value
            handler.start_clicked()
            _run_until_idle(handler, document_controller)
            assert handler.status.value.startswith("Done. 3 sequences summed"), handler.status.value
            sink = handler.sink

            log = sink.data_item("drift_log")
            ld = _display(document_controller, log)
            assert ld.used_display_type == "line_plot" and _layers(ld) == [("y drift", 0), ("x drift", 1)]
            assert ld.get_display_property("legend_position") == "top-right"
            assert log.intensity_calibration.units == "nm" and log.data.shape[0] == 2
            time_axis = log.dimensional_calibrations[1]
            columns, table = displays.table_from_xdata(log.xdata)
            assert table.shape == (3, len(columns)) and time_axis.units == "s"
            t_s = table[:, columns.index("reference_time_s")]
            t_plot = time_axis.offset + time_axis.scale * np.arange(log.data.shape[1])
            assert t_plot[0] == pytest.approx(t_s[0]) and t_plot[-1] == pytest.approx(t_s[-1], rel=1e-4)
            for row, column in ((0, "measured_dy_nm"), (1, "measured_dx_nm")):  # the plot passes the points
                measured = table[:, columns.index(column)]
                np.testing.assert_allclose(np.interp(t_s, t_plot, log.data[row]), measured,
                                           atol=0.07 * np.ptp(measured) + 1e-4)
            assert "Drift log" in log.title and "(nm)" in log.title and "(s)" in log.title

            si = sink.data_item("si")
            sd = _display(document_controller, si)
            channel = sd.display_data_channels[0]
            assert sd.used_display_type == "image" and (channel.slice_center, channel.slice_width) == (512, 1024)
            summed = sink.derived_item("si", "summed spectrum")
            assert _display(document_controller, summed).used_display_type == "line_plot"
            assert summed.dimensional_calibrations[0].units == "eV" and summed.intensity_calibration.units == "counts"
            np.testing.assert_allclose(summed.data, si.data.reshape(-1, 1024).sum(axis=0), rtol=1e-4)
            for name in ("haadf", "map_Sc_L23"):
                assert _display(document_controller, sink.data_item(name)).used_display_type == "image"
    finally:
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel, world.beam.current_pA = saved


def test_growing_power_monitor_log_is_a_time_plot_of_the_rows_written(swift):
    """A live log (preallocated rows, one written per reading) through the Swift sink: the plot
    holds only the readings so far, against time, and follows every new reading."""
    from eegs.live import MONITOR_COLUMNS, PowerMonitor
    from nionswift_plugin.lumiere.swift_sink import SwiftDataItemSink

    test_setup = TestContext.TestSetup()
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        sink = SwiftDataItemSink(document_controller, title_prefix="EEGS: ")
        sink.create("monitor", (100, len(MONITOR_COLUMNS)), [Axis("reading", "", navigate=True), Axis("column", "")],
                    dtype="float64", metadata={"columns": list(MONITOR_COLUMNS), "display": PowerMonitor.display})
        for i in range(3):
            sink.write("monitor", i, np.array([0.5 * i, 10.0 + i, 5.0 + i, 600.0]))
            sink.flush()
            item = sink.data_item("monitor")
            assert item.data.shape == (2, i + 1)
        display = _display(document_controller, item)
        assert display.used_display_type == "line_plot" and _layers(display) == [("power in", 0), ("power out", 1)]
        assert item.dimensional_calibrations[1].units == "s" and item.dimensional_calibrations[1].scale == 0.5
        assert item.intensity_calibration.units == "µW"
        np.testing.assert_allclose(item.data, [[10, 11, 12], [5, 6, 7]])


def test_growing_map_follows_the_data_until_the_user_sets_limits_and_pca_components_are_layers(swift):
    from nionswift_plugin.lumiere.swift_sink import SwiftDataItemSink

    test_setup = TestContext.TestSetup()
    e = np.arange(-8.0, 8.0, 0.05)
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        sink = SwiftDataItemSink(document_controller)
        sink.create("map", (3, e.size), [Axis("Wavelength", "nm", 20.0, 600.0, navigate=True),
                                        Axis("Energy loss", "eV", 0.05, -8.0)])
        limits = []
        for i, gain in enumerate((100.0, 300.0, 200.0)):
            hw = 1239.84 / (600 + 20 * i)
            row = 1e5 * np.exp(-0.5 * (e / 0.1) ** 2) + gain * np.exp(-0.5 * ((e + hw) / 0.1) ** 2) + 1
            sink.write("map", i, row)
            sink.flush()
            image = _display(document_controller, sink.derived_item("map", "(sideband window)"))
            plot = _display(document_controller, sink.data_item("map"))
            limits.append((image.display_data_channels[0].display_limits, plot.get_display_property("y_max")))
            if i == 1:  # the user sets their own limits and y range while the scan runs: they stay
                image.display_data_channels[0].display_limits = (0.0, 50.0)
                plot.set_display_property("y_max", 1000.0)
        assert limits[0][0][1] == pytest.approx(110, rel=0.05) and limits[1][0][1] == pytest.approx(330, rel=0.05)
        assert limits[0][1] == pytest.approx(110, rel=0.05) and limits[1][1] == pytest.approx(330, rel=0.05)
        assert limits[2] == ((0.0, 50.0), 1000.0), "the user's settings were overwritten"
        assert _layers(plot) == [("600 nm", 0), ("620 nm", 1), ("640 nm", 2)], "the layers follow the rows"

        sink.create("pca_loadings", (3, e.size), [Axis("component", "", navigate=True), Axis("Energy loss", "eV")])
        sink.write("pca_loadings", slice(None), np.random.default_rng(0).random((3, e.size)))
        sink.flush()
        display = _display(document_controller, sink.data_item("pca_loadings"))
        assert display.used_display_type == "line_plot"
        assert _layers(display) == [("component 1", 0), ("component 2", 1), ("component 3", 2)]


def test_flat_2d_result_is_curves_not_a_line_of_pixels():
    """A few rows × many channels without navigation axes (shown as plain 2-D data) would be a
    line of pixels as an image, and nion.ui's thumbnail of it divides by zero: curves instead."""
    data = np.arange(4 * 1024, dtype=np.float32).reshape(4, 1024)
    view = displays.result_view(data, [Axis("reference", ""), Axis("Energy loss", "eV", 0.1, -20.0)], {})
    assert view.kind == "line_plot" and view.layers == ["reference 1", "reference 2", "reference 3", "reference 4"]
    square = displays.result_view(np.ones((32, 32)), [Axis("y", "nm", 1.0, 0.0), Axis("x", "nm", 1.0, 0.0)], {})
    assert square.kind == "image"

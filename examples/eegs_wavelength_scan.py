"""EEGS wavelength scan next to a gold particle, then gain/loss orders, |β| per spectrum and the
Lorentzian resonance (centre, FWHM, Q).

Swift: File ▸ Run Script…; command line: python examples/eegs_wavelength_scan.py
"""
from nionswift_plugin.lumiere import scripting


def run(lumiere: scripting.Lumiere) -> dict:
    if lumiere.world is not None:  # low-loss axis of the site file; probe 5 nm from a particle
        spec = lumiere.instrument.config["spectrometer"]
        lumiere.world.spectrometer.energy_offset_eV = spec["energy_offset_eV"]
        lumiere.world.spectrometer.dispersion_eV_per_channel = spec["dispersion_eV_per_channel"]
        p = lumiere.world.specimen.particles[0]
        lumiere.instrument.scan.set_probe_position_nm(p.y_nm, p.x_nm + p.radius_nm + 5.0)
    scan = lumiere.run_eegs_wavelength_scan(590.0, 690.0, 10.0, spectra_per_point=4, exposure_s=0.1)
    orders = lumiere.eegs_orders(scan.item("eegs"), scan.item("eegs_laser_off"), scan.item("eegs_power"))
    if lumiere.wait(orders):
        print(orders["fit"].title)
    else:
        print("EEGS orders:", lumiere.status(orders) or "computing in the background")
    return {"scan": scan.item("eegs"), **orders}


def script_main(api_broker):
    run(scripting.connect(api_broker.get_api("~1.0", "~1.0")))


if __name__ == "__main__":
    with scripting.connect() as lumiere:
        run(lumiere)

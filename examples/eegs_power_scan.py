"""EEGS power scan at 640 nm over five attenuator angles (the gain grows with the power).

Swift: File ▸ Run Script…; command line: python examples/eegs_power_scan.py
"""
import numpy as np

from nionswift_plugin.lumiere import scripting


def run(lumiere: scripting.Lumiere) -> dict:
    if lumiere.world is not None:  # low-loss axis of the site file; probe 5 nm from a particle
        spec = lumiere.instrument.config["spectrometer"]
        lumiere.world.spectrometer.energy_offset_eV = spec["energy_offset_eV"]
        lumiere.world.spectrometer.dispersion_eV_per_channel = spec["dispersion_eV_per_channel"]
        p = lumiere.world.specimen.particles[0]
        lumiere.instrument.scan.set_probe_position_nm(p.y_nm, p.x_nm + p.radius_nm + 5.0)
    scan = lumiere.run_eegs_power_scan(640.0, angles_deg=(0, 30, 60, 90, 120), spectra_per_point=4, exposure_s=0.1)
    power = scan.arrays["eegs_power_power"][:, 1]  # the power log of the "eegs_power" scan
    print("power at each angle (µW):", np.round(power, 1).tolist())
    return {"scan": scan.item("eegs_power"), "power": scan.item("eegs_power_power")}


def script_main(api_broker):
    run(scripting.connect(api_broker.get_api("~1.0", "~1.0")))


if __name__ == "__main__":
    with scripting.connect() as lumiere:
        run(lumiere)

"""What every instrument package (laser bench, VG column, CL spectrometer) shares.

- :mod:`.transport` — byte transports (serial line through pyserial, TCP) and the pty/socket
  servers the simulators answer on.
- :mod:`.errors` — the typed :class:`~.errors.DeviceError` family and :func:`~.errors.check_range`.
- :mod:`.simbase` — simulated instruments: the ``fault`` switch, line framing.
- :mod:`.config_tables` — device configs from the site file's tables (unknown keys refused).
"""

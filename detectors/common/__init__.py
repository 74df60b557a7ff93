"""What every instrument package (laser bench, VG column, CL spectrometer) shares.

- :mod:`.transport` — byte transports (serial line through pyserial, TCP) and exact socket reads
  with deadlines (Merlin).
- :mod:`.guarded_server` — the servers the simulators answer on (TCP with limits, pty pairs).
- :mod:`.errors` — the typed :class:`~.errors.DeviceError` family and :func:`~.errors.check_range`.
- :mod:`.simbase` — simulated instruments: the ``fault`` switch, line framing.
- :mod:`.config_tables` — every site-file table as a dataclass (``setting`` fields, ``from_table``).
"""

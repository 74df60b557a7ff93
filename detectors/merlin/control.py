"""Control-channel client (TCP 6341): ``MPX,<len>,SET|GET|CMD,...`` requests and typed settings."""
from __future__ import annotations

import socket
import threading
from typing import Any

from detectors.common.errors import naming_device

from .errors import MERLIN_WIRE_ERRORS, MerlinBusy, MerlinConnectionLost, MerlinProtocolError, command_error_for_code
from .framing import PREFIX_BYTES, encode_message, parse_prefix, split_fields
from .settings import MerlinSettings, TriggerSource, format_value, parse_value
from detectors.common.transport import Deadline, peer_closed, recv_exact

DEFAULT_CONTROL_PORT = 6341
#: control replies are short; anything longer is a broken peer
MAX_CONTROL_BODY_BYTES = 64 * 1024


class MerlinControl:
    """Client of the Merlin control port.

    Parameters
    ----------
    host : str
        Detector PC (or simulator) address.
    port : int
        Control port, 6341 on a real Merlin.
    timeout_s : float
        Longest wait for a reply, seconds; raises :class:`~detectors.merlin.errors.MerlinTimeout`.
    append_dummy_value : bool
        Send ``GET,<NAME>,0`` / ``CMD,<NAME>,0`` as LiberTEM-live does (False: the manual's form).

    Notes
    -----
    Requests are serialised by a lock, so one client may be shared between threads. Replies are read
    as prefix + announced length (never "one recv = one reply").

    Examples
    --------
    >>> from detectors.merlin.simulator import MerlinSimulator
    >>> with MerlinSimulator() as sim, MerlinControl("127.0.0.1", sim.control_port) as control:
    ...     control.set("COUNTERDEPTH", 6)
    ...     control.get_int("COUNTERDEPTH")
    6
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_CONTROL_PORT, timeout_s: float = 5.0,
                 append_dummy_value: bool = False) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.append_dummy_value = append_dummy_value
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        """``"Merlin at host:port"``: names the detector in every error this client raises."""
        return f"Merlin at {self.host}:{self.port}"

    def connect(self) -> "MerlinControl":
        """Open the TCP connection (idempotent)."""
        if self._sock is None:
            try:
                self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            except OSError as exc:
                raise MerlinConnectionLost(f"cannot connect to Merlin control {self.host}:{self.port}: {exc}",
                                           device=self.device) from exc
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "MerlinControl":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, body: str) -> list[str]:
        """Send one request body (e.g. ``"SET,COUNTERDEPTH,6"``) and return the reply fields.

        Raises
        ------
        MerlinCommandError
            Non-zero response code (subclass per code: busy, not recognised, out of range).
        MerlinProtocolError, MerlinTimeout, MerlinConnectionLost
            Each with ``device`` = ``"Merlin at host:port"``.
        """
        with naming_device(self.device):
            return self._request(body)

    def _request(self, body: str) -> list[str]:
        with self._lock:
            if self._sock is not None and peer_closed(self._sock):
                self.close()   # e.g. the server's idle timeout: it never saw this request, so reconnecting is safe
            sock = self.connect()._sock
            assert sock is not None
            try:
                sock.settimeout(self.timeout_s)   # a peer that stops reading cannot block us longer
                sock.sendall(encode_message(body))
            except OSError as exc:
                self.close()
                raise MerlinConnectionLost(f"sending {body!r} to {self.host}:{self.port} failed: {exc}") from exc
            deadline = Deadline(self.timeout_s, self.timeout_s, errors=MERLIN_WIRE_ERRORS)
            try:
                prefix = recv_exact(sock, PREFIX_BYTES, deadline, f"reply to {body!r}")
                length = parse_prefix(prefix, MAX_CONTROL_BODY_BYTES)
                reply = recv_exact(sock, length, deadline, f"reply to {body!r}")
            except Exception:
                # A half-read reply leaves the stream out of step: drop the connection, reconnect next time.
                self.close()
                raise
        fields = split_fields(bytes(reply))
        kind, name = body.split(",")[:2]
        if fields[0] == "ERR":   # our simulator's refusal of the connection (e.g. connection limit)
            self.close()
            raise MerlinBusy(f"Merlin refused {body!r}: {','.join(fields[1:])}", code=1, command=body)
        if len(fields) < 3 or fields[0].upper() != kind.upper() or fields[1].upper() != name.upper():
            raise MerlinProtocolError(f"reply {bytes(reply)[:120]!r} does not answer {body!r}")
        code_text = fields[-1].strip()
        if not code_text.isdigit():
            raise MerlinProtocolError(f"reply {bytes(reply)[:120]!r} to {body!r} ends without a numeric code")
        code = int(code_text)
        if code != 0:
            raise command_error_for_code(code, body)
        return fields

    def get(self, name: str) -> str:
        """GET a variable; returns its value text (field 4 of the reply)."""
        body = f"GET,{name}" + (",0" if self.append_dummy_value else "")
        fields = self.request(body)
        if len(fields) < 4:
            raise MerlinProtocolError(f"GET reply for {name!r} carries no value: {fields!r}")
        return ",".join(fields[2:-1])

    def get_int(self, name: str) -> int:
        text = self.get(name)
        try:
            return int(float(text))
        except ValueError:
            raise MerlinProtocolError(f"GET {name} returned {text!r}, not an integer") from None

    def get_float(self, name: str) -> float:
        text = self.get(name)
        try:
            return float(text)
        except ValueError:
            raise MerlinProtocolError(f"GET {name} returned {text!r}, not a number") from None

    def set(self, name: str, value: Any) -> None:
        """SET a variable (bools as 0/1, enums by number, floats without trailing zeros)."""
        self.request(f"SET,{name},{format_value(value)}")

    def cmd(self, name: str) -> None:
        """Send a CMD (STARTACQUISITION, STOPACQUISITION, SOFTTRIGGER, ABORT, RESET, ...)."""
        self.request(f"CMD,{name}" + (",0" if self.append_dummy_value else ""))

    def apply(self, settings: MerlinSettings) -> None:
        """Send every setting of ``settings`` in the order of :meth:`MerlinSettings.as_commands`."""
        for name, value in settings.as_commands():
            self.set(name, value)

    def read_settings(self) -> MerlinSettings:
        """Read the acquisition settings back from the detector."""
        values = {name: parse_value(name, self.get(name)) for name, _ in MerlinSettings().as_commands()}
        return MerlinSettings(
            counter_depth=values["COUNTERDEPTH"], continuous_rw=bool(values["CONTINUOUSRW"]),
            num_frames=values["NUMFRAMESTOACQUIRE"], num_frames_per_trigger=values["NUMFRAMESPERTRIGGER"],
            acquisition_time_ms=values["ACQUISITIONTIME"], acquisition_period_ms=values["ACQUISITIONPERIOD"],
            trigger_start=TriggerSource(values["TRIGGERSTART"]), trigger_stop=TriggerSource(values["TRIGGERSTOP"]),
            raw=values["FILEFORMAT"] == 2, thresholds_keV=(values["THRESHOLD0"], values["THRESHOLD1"]),
            file_enable=bool(values["FILEENABLE"]), file_directory=values["FILEDIRECTORY"],
            file_name=values["FILENAME"])  # type: ignore[arg-type]

    # Typed shortcuts for the settings used most.
    def set_counter_depth(self, bits: int) -> None:
        self.set("COUNTERDEPTH", bits)

    def set_trigger_start(self, source: TriggerSource) -> None:
        self.set("TRIGGERSTART", TriggerSource(source))

    def set_threshold_keV(self, index: int, energy_keV: float) -> None:
        if index not in range(8):
            raise ValueError(f"threshold index must be 0..7, got {index}")
        self.set(f"THRESHOLD{index}", float(energy_keV))

    def detector_status(self) -> int:
        return self.get_int("DETECTORSTATUS")

    def start_acquisition(self) -> None:
        self.cmd("STARTACQUISITION")

    def stop_acquisition(self) -> None:
        self.cmd("STOPACQUISITION")

    def soft_trigger(self) -> None:
        self.cmd("SOFTTRIGGER")

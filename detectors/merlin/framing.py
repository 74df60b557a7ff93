"""MPX framing shared by the control (6341) and data (6342) channels.

A message on the wire is ``MPX,<10 decimal digits>,<body>``. The number counts every byte after the
14 characters ``MPX,dddddddddd`` **including the comma that follows them**, so
``MPX,0000000025,SET,NUMFRAMESTOACQUIRE,1`` announces 25 bytes for ``,SET,NUMFRAMESTOACQUIRE,1``
(Merlin manual §13). A reader therefore takes a 15-byte prefix and then ``length - 1`` body bytes.

Here *body* always means the bytes after that comma (``SET,NUMFRAMESTOACQUIRE,1``).
"""
from __future__ import annotations

from .errors import MerlinFrameTooLarge, MerlinProtocolError

#: bytes of ``MPX,dddddddddd,``
PREFIX_BYTES = 15
MAGIC = b"MPX,"
#: default upper bound for one message body: a 24-bit quad frame is 1 MiB, so 64 MiB is generous
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


def format_prefix(body_bytes: int) -> bytes:
    """Return the 15-byte prefix announcing a body of ``body_bytes`` bytes.

    Parameters
    ----------
    body_bytes : int
        Length of the body (without the comma that follows the digits).

    Returns
    -------
    bytes
        ``b"MPX,%010d,"`` with the count ``body_bytes + 1``.
    """
    length = body_bytes + 1
    if body_bytes < 0 or length > 9_999_999_999:
        raise MerlinProtocolError(f"cannot frame a body of {body_bytes} bytes")
    return b"MPX,%010d," % length


def encode_message(body: bytes | str) -> bytes:
    """Frame ``body`` (e.g. ``b"GET,COUNTERDEPTH"``) as a complete MPX message."""
    if isinstance(body, str):
        body = body.encode("ascii")
    return format_prefix(len(body)) + body


def parse_prefix(prefix: bytes | bytearray | memoryview, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> int:
    """Validate a 15-byte MPX prefix and return the body length that follows it.

    Parameters
    ----------
    prefix : bytes-like
        Exactly :data:`PREFIX_BYTES` bytes.
    max_body_bytes : int
        Largest body accepted. A larger claim raises before any buffer is allocated.

    Returns
    -------
    int
        Number of body bytes after the prefix (the length field minus the comma).

    Raises
    ------
    MerlinProtocolError
        Wrong magic, non-decimal digits or a missing comma.
    MerlinFrameTooLarge
        The length field exceeds ``max_body_bytes + 1``.
    """
    prefix = bytes(prefix)
    if len(prefix) != PREFIX_BYTES:
        raise MerlinProtocolError(f"MPX prefix must be {PREFIX_BYTES} bytes, got {len(prefix)}: {prefix!r}")
    if prefix[:4] != MAGIC:
        raise MerlinProtocolError(f"expected message to start with b'MPX,', got {prefix[:4]!r} (prefix {prefix!r})")
    digits = prefix[4:14]
    if not digits.isdigit():
        raise MerlinProtocolError(f"MPX length field is not 10 decimal digits: {digits!r}")
    if prefix[14:15] != b",":
        raise MerlinProtocolError(f"expected ',' after the MPX length field, got {prefix[14:15]!r}")
    length = int(digits)
    if length < 1:
        raise MerlinProtocolError(f"MPX length field {length} is too small (it counts the comma)")
    if length - 1 > max_body_bytes:
        raise MerlinFrameTooLarge(
            f"MPX length field claims {length} bytes, more than the configured maximum of {max_body_bytes + 1}")
    return length - 1


def split_fields(body: bytes) -> list[str]:
    """Split a control body into its comma-separated ASCII fields (trailing CR/LF/NUL dropped)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MerlinProtocolError(f"control message is not ASCII: {body[:80]!r}") from exc
    return text.rstrip("\r\n\x00 ").split(",")

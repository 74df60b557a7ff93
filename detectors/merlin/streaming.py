"""Live EELS reduction: frames from the data channel -> decode + correct + bin -> spectrum buffer.

The fused kernel reads the pixels straight from the receiver's socket buffer (no decoded frame is ever
stored), and each spectrum lands at the row of its sequence number, so drops leave zero rows that
``AcquisitionResult.received`` identifies.
"""
from __future__ import annotations

import numpy as np

from analysis.kernels import (ENCODING_R1, ENCODING_R6, ENCODING_R12, ENCODING_R24, ENCODING_U08, ENCODING_U16,
                              ENCODING_U32, CorrectionMaps, correct_and_bin_encoded)

from .encodings import FrameFormat
from .errors import MerlinUnsupportedFormat
from .receiver import AcquisitionResult, FrameBatch, MerlinDataClient


def kernel_encoding(fmt: FrameFormat) -> int:
    """The :mod:`analysis.kernels` encoding code for frames of format ``fmt``.

    Raises
    ------
    MerlinUnsupportedFormat
        Raw quad frames (their raw order is not the image order, so they cannot be binned in place).
    """
    if not fmt.raw:
        return {"U08": ENCODING_U08, "U16": ENCODING_U16, "U32": ENCODING_U32}[fmt.pixel_type]
    if fmt.layout not in ("1x1", "Nx1"):
        raise MerlinUnsupportedFormat(f"raw {fmt.layout} frames cannot be binned without reordering")
    return {1: ENCODING_R1, 6: ENCODING_R6, 12: ENCODING_R12, 24: ENCODING_R24}[fmt.counter_depth]


def receive_spectra(client: MerlinDataClient, out: np.ndarray, maps: CorrectionMaps | None = None,
                    n_frames: int | None = None, total_timeout_s: float | None = None) -> AcquisitionResult:
    """Receive one acquisition and reduce every frame to a corrected, row-summed spectrum.

    Parameters
    ----------
    client : MerlinDataClient
        Connected data client (connect before STARTACQUISITION).
    out : numpy.ndarray
        Preallocated (n_frames, cols) float32 spectrum buffer; row ``i`` receives sequence number ``i + 1``.
    maps : CorrectionMaps, optional
        Dark, gain and bad pixels (default: none).
    n_frames : int, optional
        Frames to expect (default: the HDR's ``Frames in Acquisition``).
    total_timeout_s : float, optional
        Overall limit for the acquisition, seconds.

    Returns
    -------
    AcquisitionResult
        Bookkeeping (received, dropped, out of order); ``frames`` is None.

    Notes
    -----
    Errors carry the partial result like :meth:`MerlinDataClient.receive`; the spectra already written
    to ``out`` stay there.
    """
    state: dict[str, object] = {}

    def on_batch(batch: FrameBatch) -> None:
        if "maps" not in state:
            rows, cols = batch.frame_format.image_shape
            if out.ndim != 2 or out.shape[1] != cols:
                raise ValueError(f"out must be (n_frames, {cols}) float32, got {out.shape}")
            state["maps"] = maps or CorrectionMaps.build((rows, cols))
            state["encoding"] = kernel_encoding(batch.frame_format)
        first, k = int(batch.sequence_numbers[0]) - 1, len(batch.sequence_numbers)
        shape = batch.frame_format.image_shape
        args = (batch.messages, batch.pixel_offset, state["encoding"], shape)
        if int(batch.sequence_numbers[-1]) - 1 == first + k - 1 and first + k <= len(out):
            correct_and_bin_encoded(*args, maps=state["maps"], out=out[first:first + k])   # in place
        else:
            out[batch.sequence_numbers - 1] = correct_and_bin_encoded(*args, maps=state["maps"])

    return client.receive(n_frames, store_frames=False, on_batch=on_batch, total_timeout_s=total_timeout_s)

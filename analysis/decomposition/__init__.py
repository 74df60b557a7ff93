"""Streaming decompositions of spectrum images: incremental PCA and online NMF.

Both are fed one scan line (or block of spectra, ``(m, n_channels)``) at a time with
``partial_fit``, expose ``components_`` and ``transform``, and combine partial results with
``merge`` (the shape of a LiberTEM UDF: declared buffers, per-part processing, merge), so the same
code runs live during a scan, offline, and per Dask block.
"""
from .nmf import OnlineNMF, nndsvd, nnls_rows
from .pca import StreamingPCA, principal_angles_deg

__all__ = ["StreamingPCA", "OnlineNMF", "principal_angles_deg", "nnls_rows", "nndsvd"]

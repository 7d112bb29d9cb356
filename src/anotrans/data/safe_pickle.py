"""A restricted unpickler for the official CIFAR-10 batches: data only, never code.

``pickle.load`` runs whatever callable a file names, so a crafted "batch" downloaded from anywhere
could execute code. The official batches hold only dicts, lists, bytes, str, ints and uint8 numpy
arrays; rebuilding an array needs the handful of numpy globals below (the names differ between numpy
1.x and 2.x and between pickle protocols). Any other global is refused before it is called, and the
result is checked to be made of those types only (arrays of plain bool/int/float dtypes).
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

from anotrans.errors import DataError

_PLAIN_KINDS = frozenset("biuf")


def _plain_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype`` for plain numeric types only (no objects, no structured records)."""
    dtype = np.dtype(*args)
    if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None:
        raise pickle.UnpicklingError(f"refused numpy dtype {dtype!r} (only plain numeric arrays)")
    return dtype


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct`` for plain ndarrays only (a subclass could run its own code)."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refused array subtype {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, _plain_dtype(dtype))


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    """Protocol-5 arrays: numpy's ``_frombuffer`` with the dtype checked."""
    array = np.frombuffer(buffer, dtype=_plain_dtype(dtype)).reshape(shape, order=order)
    return array.copy()


def _encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode``: how protocol 2 under Python 3 stores bytes (e.g. an array's raw data)."""
    return text.encode(encoding)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
    **{(f"{core}.multiarray", "_reconstruct"): _reconstruct for core in ("numpy.core", "numpy._core")},
    **{(f"{core}.numeric", "_frombuffer"): _frombuffer for core in ("numpy.core", "numpy._core")},
}


class _RefusedGlobal(pickle.UnpicklingError):
    pass


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _RefusedGlobal(f"{module}.{name}") from None


def _check_plain(value: Any, depth: int = 0) -> None:
    """Refuse anything but the types of an official batch (nesting depth bounded)."""
    if depth > 8:
        raise pickle.UnpicklingError("nested too deeply for a CIFAR-10 batch")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, depth + 1)
            _check_plain(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, depth + 1)
    elif isinstance(value, np.ndarray):
        if type(value) is not np.ndarray or value.dtype.kind not in _PLAIN_KINDS:
            raise pickle.UnpicklingError(f"refused array of dtype {value.dtype}")
    elif not isinstance(value, (bytes, str, int, float, type(None))):
        raise pickle.UnpicklingError(f"refused value of type {type(value).__name__}")


def load_data_pickle(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` admitting only plain data (see the module docstring); DataError otherwise."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        content = _DataOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
        _check_plain(content)
    except _RefusedGlobal as exc:
        raise DataError(
            f"{path}: refused to unpickle global {exc} (a CIFAR-10 batch holds only plain data; "
            "this file may be malicious)"
        ) from None
    except Exception as exc:  # any other unpickling failure: truncated, garbage or not a batch
        raise DataError(f"{path}: not a readable CIFAR-10 pickle ({type(exc).__name__}: {exc})") from None
    return content

"""Read and write .safetensors files without the `safetensors` package.

Format (https://github.com/huggingface/safetensors): 8-byte little-endian u64 header length N, then N
bytes of UTF-8 JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
then the raw little-endian tensor bytes; offsets are relative to the first byte after the header. The
header is padded with spaces so that the data starts at a multiple of 8 bytes.
"""
import json
import struct
import sys

import numpy as np
import torch

# dtype name -> (torch dtype, numpy dtype used to move the bytes). BF16 travels as int16 bits because
# numpy has no bfloat16.
_DTYPES = {
    "F64": (torch.float64, np.float64),
    "F32": (torch.float32, np.float32),
    "F16": (torch.float16, np.float16),
    "BF16": (torch.bfloat16, np.int16),
    "I64": (torch.int64, np.int64),
    "I32": (torch.int32, np.int32),
    "I16": (torch.int16, np.int16),
    "I8": (torch.int8, np.int8),
    "U8": (torch.uint8, np.uint8),
    "BOOL": (torch.bool, np.bool_),
}
if sys.byteorder != "little":
    raise ImportError("reel_ref.safetensors_io assumes a little-endian host")

_NAME_OF = {torch_dtype: name for name, (torch_dtype, _) in _DTYPES.items()}


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()  # little-endian hosts only (checked at import)


def save_file(tensors: dict, path: str, metadata: dict = None) -> None:
    """Writes `tensors` ({name: torch.Tensor}) in name order; metadata values must be strings."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"safetensors metadata must be str -> str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _NAME_OF:
            raise TypeError(f"tensor '{name}': dtype {t.dtype} not supported")
        data = _tensor_bytes(t)
        header[name] = {
            "dtype": _NAME_OF[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def load_file_with_metadata(path: str):
    """Returns ({name: tensor}, metadata dict). Validates offsets, sizes and dtypes."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} exceeds file size {len(raw)}")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype_name = info["dtype"]
        if dtype_name not in _DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has unsupported dtype {dtype_name}")
        torch_dtype, np_dtype = _DTYPES[dtype_name]
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
        count = int(np.prod(shape)) if shape else 1
        itemsize = np.dtype(np_dtype).itemsize
        if not (0 <= begin <= end <= len(data)) or end - begin != count * itemsize:
            raise ValueError(f"{path}: tensor '{name}' offsets [{begin}, {end}) do not fit shape "
                             f"{shape} x {itemsize} bytes within {len(data)} data bytes")
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(np_dtype).newbyteorder("<"), count=count)
        t = torch.from_numpy(arr.astype(np_dtype, copy=True)).reshape(shape)
        if torch_dtype == torch.bfloat16:
            t = t.view(torch.bfloat16)
        tensors[name] = t
    return tensors, metadata


def load_file(path: str) -> dict:
    return load_file_with_metadata(path)[0]

"""Minimal safetensors reader and writer for torch tensors, in plain Python.

The test fixtures are written by PyTorch scripts and read by the C++ tests, so
both sides share one simple file format (the "safetensors" layout):

    [8 bytes]  N, the header length, unsigned 64-bit little-endian
    [N bytes]  JSON header, padded with spaces to a multiple of 8:
               {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
                ...,
                "__metadata__": {"<key>": "<string value>"}}      (optional)
    [rest]     the tensor bytes, little-endian, row-major, packed in insertion
               order; data_offsets are byte ranges [b, e) into this region.

Supported dtypes: float32 -> "F32", int32 -> "I32", int64 -> "I64", uint8 -> "U8".
Only struct and json are used for the format itself (no safetensors package).

Usage as a module:
    save_file({"x": torch.randn(2, 3)}, "a.safetensors", metadata={"k": "v"})
    tensors, metadata = load_file("a.safetensors")
Usage as a script, to list what a file holds:
    python3 tools/safetensors_py.py FILE...
"""

import json
import struct
import sys

import torch

TORCH_TO_CODE = {
    torch.float32: "F32",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.uint8: "U8",
}
CODE_TO_TORCH = {code: dtype for dtype, code in TORCH_TO_CODE.items()}
METADATA_KEY = "__metadata__"
HEADER_ALIGN = 8

assert sys.byteorder == "little", "tensor bytes are written in native order, which must be little-endian"


def tensor_bytes(tensor):
    """Row-major bytes of a CPU tensor (the dtype must be supported)."""
    if tensor.dtype not in TORCH_TO_CODE:
        raise ValueError(f"unsupported dtype {tensor.dtype}")
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return flat.numpy().tobytes()


def save_file(tensors, path, metadata=None):
    """Write a dict {name: tensor} (in its insertion order) and optional {str: str} metadata."""
    header = {}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        if name == METADATA_KEY:
            raise ValueError(f"tensor name {METADATA_KEY!r} is reserved")
        blob = tensor_bytes(tensor)
        header[name] = {
            "dtype": TORCH_TO_CODE[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"metadata must map str to str, got {key!r}: {value!r}")
        header[METADATA_KEY] = dict(metadata)

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % HEADER_ALIGN)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for blob in blobs:
            f.write(blob)


def load_file(path):
    """Read a file written by save_file; returns ({name: tensor}, {str: str} metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if 8 + header_len > len(raw):
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file")
    header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    data = raw[8 + header_len:]

    metadata = header.pop(METADATA_KEY, {})
    tensors = {}
    for name, entry in header.items():
        dtype = CODE_TO_TORCH.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {entry['dtype']}")
        begin, end = entry["data_offsets"]
        shape = entry["shape"]
        numel = 1
        for size in shape:
            numel *= size
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not (0 <= begin <= end <= len(data)) or end - begin != numel * itemsize:
            raise ValueError(f"{path}: tensor {name!r} has data_offsets {entry['data_offsets']} "
                             f"that do not match shape {shape} and dtype {entry['dtype']}")
        chunk = bytearray(data[begin:end])
        flat = torch.frombuffer(chunk, dtype=dtype) if numel > 0 else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(shape)
    return tensors, metadata


def main(paths):
    for path in paths:
        tensors, metadata = load_file(path)
        print(f"{path}: {len(tensors)} tensors")
        for key, value in metadata.items():
            print(f"  meta {key} = {value}")
        for name, tensor in tensors.items():
            print(f"  {name:32s} {TORCH_TO_CODE[tensor.dtype]:4s} {list(tensor.shape)}")


if __name__ == "__main__":
    main(sys.argv[1:])


def save_verified(tensors, path, metadata=None):
    """save_file, then read the file back and raise unless names, order, metadata and every tensor
    come back bit for bit."""
    import torch
    save_file(tensors, path, metadata=metadata)
    back, back_meta = load_file(path)
    if list(back) != list(tensors) or back_meta != (metadata or {}) or \
            not all(torch.equal(back[k], tensors[k]) for k in tensors):
        raise RuntimeError(f"{path} does not read back bit for bit")

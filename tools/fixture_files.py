"""What the fixture scripts (make_fixtures_*.py) share: the command line, and the writing and
checking of "family" files.

A family file (tests/data/<prefix>_<family>.safetensors) holds the cases of one op family:
tensors named `case<i>.<name>`, and metadata `num_cases` and `case<i>` (the case's parameters as
compact JSON). Each case is made right after seeding from (family, i), so a case does not depend
on the ones before it. Every file written is read back and compared, NaN positions included.
tests/case_fixture.h is the C++ reader.
"""

import argparse
import json
import os

import torch

from safetensors_py import load_file, save_file


def output_folder(description):
    """Parses the scripts' one option, --out (default tests/data), creates the folder and returns it.
    Also pins torch to one thread, so that reductions run in one order on every machine."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default="tests/data", help="output folder (default tests/data)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    return args.out


def build_family(family, cases, seed_case):
    """(tensors, metadata) of one family; `cases` are functions returning (params, {name: tensor})."""
    tensors, metadata = {}, {"num_cases": str(len(cases))}
    for i, make_case in enumerate(cases):
        seed_case(family, i)
        params, case_tensors = make_case()
        metadata[f"case{i}"] = json.dumps(params, separators=(",", ":"))
        for name, tensor in case_tensors.items():
            tensors[f"case{i}.{name}"] = tensor.contiguous()
    return tensors, metadata


def check_round_trip(path, tensors, metadata):
    """The file at `path` holds exactly `tensors` and `metadata` (NaN where the tensors have NaN)."""
    loaded, loaded_metadata = load_file(path)
    assert loaded_metadata == metadata, f"{path}: metadata differs after reading back"
    assert list(loaded) == list(tensors), f"{path}: tensor names differ after reading back"
    for name, tensor in tensors.items():
        got = loaded[name]
        assert got.dtype == tensor.dtype and got.shape == tensor.shape, f"{path}: {name} dtype/shape"
        assert torch.equal(got, tensor) or (tensor.is_floating_point() and torch.equal(
            torch.nan_to_num(got), torch.nan_to_num(tensor))), f"{path}: {name} values differ after reading back"


def write_families(out, prefix, families, seed_case):
    """Writes <out>/<prefix>_<family>.safetensors for each family, checks each, prints a line per file;
    returns the total size in bytes."""
    total_bytes = 0
    for family, cases in families.items():
        tensors, metadata = build_family(family, cases, seed_case)
        path = os.path.join(out, f"{prefix}_{family}.safetensors")
        save_file(tensors, path, metadata)
        check_round_trip(path, tensors, metadata)
        size = os.path.getsize(path)
        total_bytes += size
        print(f"{path}: {len(cases)} cases, {len(tensors)} tensors, {size} bytes")
    return total_bytes


def torchvision_main(description, prefix, families, seed_case):
    """The main of the scripts whose references are torch and torchvision: writes the families and
    prints their total size and the versions."""
    import torchvision
    total_bytes = write_families(output_folder(description), prefix, families, seed_case)
    print(f"total {total_bytes} bytes; all files read back identical; torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}")

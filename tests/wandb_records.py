"""Read the records of an offline W&B run file (``run-<id>.wandb``).

wandb >= 0.19 writes no ``wandb-summary.json`` offline; the run lives in the ``.wandb`` file:
a 7-byte ``:W&B`` header, then LevelDB-log framing (32 KiB blocks; per chunk a 4-byte CRC,
2-byte length, 1-byte type) around serialised ``wandb.proto.Record`` messages.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[pb.Record]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    records, chunk, pos = [], b"", 7
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # block trailer too small for a header: skip to next block
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        payload, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (FULL, FIRST):
            chunk = payload
        elif kind in (MIDDLE, LAST):
            chunk += payload
        else:  # zero padding at the end of a block
            continue
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(chunk)
            records.append(record)
    return records


def summary_and_history(path: Path) -> tuple[dict, list[dict]]:
    """The run's final summary and its history rows, decoded from JSON values."""
    summary, history = {}, []
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "history":
            history.append(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            )
    return summary, history

"""The untrusted half of the class grader: runs ONE student's code, answers requests about it.

``scripts/homework.py`` starts this file as a separate process, in an empty temporary directory, for
each submission. The process runs the submission's code cells one at a time (with IPython, so magics
work) and then answers calls to the student's functions. Everything that crosses the process boundary
is plain data, encoded by :func:`encode` and decoded by :func:`decode` (JSON; arrays as ``.npy`` bytes
loaded with ``allow_pickle=False``): the grader never unpickles anything the student produced, and the
tests never run in this process, so whatever the student patches here only affects the student's own
answers.

Protocol: on the pipes inherited as stdin/stdout, messages are an 8-byte big-endian length followed by
UTF-8 JSON. The student's own prints go to stderr (the grader keeps only the beginning). Requests::

    {"op": "cell", "source": str}                       -> {"ok": bool, "error": str}
    {"op": "lookup", "name": str}                       -> {"kind": "missing"|"callable"|"value"|"unsupported", ...}
    {"op": "call", "name": str, "args": enc, "kwargs": enc} -> {"ok": bool, "result": enc, "error": str}

The codec functions are also imported by the trusted side, so this module must stay importable
without side effects.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import struct
import sys
from typing import Any, BinaryIO

__all__ = ["MAX_MESSAGE_BYTES", "decode", "encode", "read_message", "write_message"]

MAX_MESSAGE_BYTES = 64 * 2**20  # one answer (an array) may be at most 64 MiB encoded
_MAX_DEPTH = 20


def encode(obj: Any, _depth: int = 0) -> Any:
    """Turn plain data (numbers, str, None, numpy arrays/scalars, torch tensors, list/tuple/dict) into JSON."""
    if _depth > _MAX_DEPTH:
        raise TypeError("answer nests containers too deeply")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    module = type(obj).__module__
    if module == "numpy" or module.startswith("numpy."):
        import numpy as np

        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise TypeError("numpy arrays of Python objects cannot be graded; use a numeric dtype")
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(obj), allow_pickle=False)
            return {"__ndarray__": base64.b64encode(buffer.getvalue()).decode("ascii")}
        if isinstance(obj, np.generic):
            return encode(obj.item(), _depth + 1)
    if module == "torch" or module.startswith("torch."):
        import torch

        if isinstance(obj, torch.Tensor):
            return {"__tensor__": encode(obj.detach().cpu().numpy(), _depth + 1)}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(item, _depth + 1) for item in obj]}
    if isinstance(obj, list):
        return [encode(item, _depth + 1) for item in obj]
    if isinstance(obj, dict):
        return {"__dict__": [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in obj.items()]}
    raise TypeError(f"cannot grade a value of type {type(obj).__module__}.{type(obj).__qualname__}: "
                    "answers must be numbers, strings, numpy arrays, tensors, or lists/tuples/dicts of those")


def decode(data: Any, _depth: int = 0) -> Any:
    """Inverse of :func:`encode`; raises ValueError on anything that :func:`encode` cannot produce."""
    if _depth > _MAX_DEPTH + 2:
        raise ValueError("encoded answer nests too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(item, _depth + 1) for item in data]
    if isinstance(data, dict) and len(data) == 1:
        (tag, value), = data.items()
        if tag == "__float__" and value in ("nan", "inf", "-inf"):
            return float(value)
        if tag == "__ndarray__" and isinstance(value, str):
            import numpy as np

            array = np.load(io.BytesIO(base64.b64decode(value, validate=True)), allow_pickle=False)
            if not isinstance(array, np.ndarray):
                raise ValueError("encoded array is not an .npy array")
            return array
        if tag == "__tensor__":
            import numpy as np
            import torch

            array = decode(value, _depth + 1)
            if not isinstance(array, np.ndarray):
                raise ValueError("encoded tensor does not hold an array")
            return torch.from_numpy(array.copy())
        if tag == "__tuple__" and isinstance(value, list):
            return tuple(decode(item, _depth + 1) for item in value)
        if tag == "__dict__" and isinstance(value, list):
            out = {}
            for pair in value:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise ValueError("encoded dict entries must be [key, value] pairs")
                key = decode(pair[0], _depth + 1)
                if not isinstance(key, (bool, int, float, str, tuple, type(None))):
                    raise ValueError(f"dict key of type {type(key).__name__} is not allowed")
                out[key] = decode(pair[1], _depth + 1)
            return out
    raise ValueError(f"malformed encoded value: {str(data)[:80]!r}")


def write_message(stream: BinaryIO, message: dict) -> None:
    """Write one length-prefixed JSON message."""
    payload = json.dumps(message, allow_nan=False).encode("utf-8")
    stream.write(struct.pack(">Q", len(payload)) + payload)
    stream.flush()


def read_message(stream: BinaryIO) -> dict:
    """Read one length-prefixed JSON message; EOFError when the peer has gone."""
    header = _read_exactly(stream, 8)
    (size,) = struct.unpack(">Q", header)
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {size} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    message = json.loads(_read_exactly(stream, size).decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("the other process closed the pipe")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 2000 else text[:2000] + " ..."


def _serve() -> None:  # pragma: no cover - exercised through scripts/homework.py in a subprocess
    # Keep private copies of the protocol pipes, then point the student's stdin at /dev/null and
    # stdout at stderr, so that prints or input() cannot disturb the protocol.
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.path.insert(0, os.getcwd())

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    namespace = shell.user_ns

    while True:
        try:
            request = read_message(requests)
        except EOFError:
            return
        op = request.get("op")
        try:
            if op == "cell":
                result = shell.run_cell(str(request.get("source", "")), store_history=False, silent=False)
                error = result.error_before_exec or result.error_in_exec
                reply = {"ok": error is None, "error": "" if error is None else _describe(error)}
            elif op == "lookup":
                name = str(request.get("name"))
                if name not in namespace:
                    reply = {"kind": "missing"}
                elif callable(namespace[name]) and not isinstance(namespace[name], type):
                    reply = {"kind": "callable"}
                else:
                    try:
                        reply = {"kind": "value", "value": encode(namespace[name])}
                    except TypeError as err:
                        reply = {"kind": "unsupported", "error": str(err)}
            elif op == "call":
                function = namespace.get(str(request.get("name")))
                if not callable(function):
                    raise NameError(f"{request.get('name')!r} is not a function in the submission")
                args = decode(request.get("args", {"__tuple__": []}))
                kwargs = decode(request.get("kwargs", {"__dict__": []}))
                reply = {"ok": True, "result": encode(function(*args, **kwargs))}
            else:
                reply = {"ok": False, "error": f"unknown request {op!r}"}
        except BaseException as err:  # the student's code may raise anything, SystemExit included
            reply = {"ok": False, "error": _describe(err)}
        try:
            write_message(replies, reply)
        except (TypeError, ValueError) as err:  # e.g. a payload too large to encode
            write_message(replies, {"ok": False, "error": _describe(err)})


if __name__ == "__main__":
    _serve()

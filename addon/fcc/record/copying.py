"""The client response's bytes as they stream past, kept for the recorder and the inspector."""

from __future__ import annotations

COPY_LIMIT = 4 * 1024 * 1024  # bytes of a streamed answer kept; past it the copy is marked truncated


class CopyingStream:
    """mitmproxy stream callable: passes bytes through untouched, keeps a bounded copy.

    Never returns b"" mid-stream (that would end the chunked body) and never raises.
    """

    __slots__ = ("_parts", "_size", "truncated")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self.truncated = False

    def __call__(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        if self._size < COPY_LIMIT:
            self._parts.append(data)
            self._size += len(data)
        else:
            self.truncated = True
        return [data]

    def copy(self) -> bytes:
        return b"".join(self._parts)

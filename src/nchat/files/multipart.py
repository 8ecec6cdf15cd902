"""The file part of a multipart/form-data upload, as a stream of chunks.

python-multipart's push parser reads the body as it arrives; the chunks of the part named
`file` are handed on as they are parsed, and nothing else is kept (other parts are skipped,
headers are bounded by the parser). Nothing is spooled: a 1 GB upload passes through in the
request's own chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from nchat.errors import ValidationFailed

FILE_FIELD = b"file"


def not_multipart(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_upload")


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise not_multipart("Send the file as multipart/form-data, in a part named `file`")
    return options[b"boundary"]


@dataclass
class _Parts:
    """What the parser's callbacks found, taken after each chunk it is fed."""

    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    disposition: bytes = b""
    in_file: bool = False
    filename: str | None = None
    file_done: bool = False
    data: list[bytes] = field(default_factory=list)

    def on_part_begin(self) -> None:
        self.disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_field).lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        kind, options = parse_options_header(self.disposition)
        if (
            kind == b"form-data"
            and options.get(b"name") == FILE_FIELD
            and self.filename is None
            and not self.file_done
        ):
            self.in_file = True
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.data.append(data[start:end])

    def on_part_end(self) -> None:
        if self.in_file:
            self.in_file = False
            self.file_done = True


class FilePart:
    """The upload's `file` part: its name once the part's headers are read, then its bytes."""

    def __init__(self, body: AsyncIterator[bytes], boundary: bytes) -> None:
        self._body = body
        self._parts = _Parts()
        callbacks = {
            name: getattr(self._parts, name)
            for name in (
                "on_part_begin",
                "on_header_field",
                "on_header_value",
                "on_header_end",
                "on_headers_finished",
                "on_part_data",
                "on_part_end",
            )
        }
        self._parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    async def name(self) -> str:
        """Read until the file part begins; its file name as the client sent it."""
        while self._parts.filename is None:
            if not await self._feed():
                raise not_multipart("The upload has no part named `file`")
        return self._parts.filename

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, as the body arrives."""
        while True:
            if self._parts.data:
                taken, self._parts.data = self._parts.data, []
                for chunk in taken:
                    if chunk:
                        yield chunk
            if self._parts.file_done:
                return
            if not await self._feed():
                raise not_multipart("The upload ended inside the file part")

    async def _feed(self) -> bool:
        """Parse the next piece of the body; False at its end."""
        chunk = await anext(self._body, None)
        if chunk is None:
            return False
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise not_multipart(f"The multipart body is malformed: {exc}") from None
        return True

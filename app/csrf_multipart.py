"""Lets asgi-csrf check multipart forms again with current python-multipart.

asgi-csrf 0.11 builds `FormParser(..., FileClass=...)`, an argument python-multipart
removed in 0.0.26 (simonw/asgi-csrf#38); every upload form then failed with a
500. Going back to an older python-multipart would give up its security fixes
(CVE-2026-40347), so asgi-csrf gets this stand-in instead: it streams the parts with
python-multipart's low-level parser and keeps asgi-csrf's rules (the token must
come before any file; the rest of the body is replayed untouched by asgi-csrf).
Remove it when asgi-csrf ships a fixed release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asgi_csrf
from python_multipart.multipart import MultipartParser, parse_options_header


@dataclass
class _Field:
    field_name: bytes
    value: bytes


class TokenFirstFormParser:
    """The slice of FormParser's interface asgi-csrf uses: construct, then write()."""

    def __init__(
        self,
        content_type: str,
        on_field: Callable[[Any], None],
        on_file: Callable[[Any], None],
        *,
        boundary: bytes | str,
        FileClass: Callable[[bytes, bytes, dict[str, Any]], Any],
    ) -> None:
        headers: dict[bytes, bytes] = {}
        header_name: list[bytes] = []
        header_value: list[bytes] = []
        value: list[bytes] = []
        current: dict[str, bytes] = {}

        def on_part_begin() -> None:
            headers.clear()
            value.clear()
            current.clear()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header_name.append(data[start:end])

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header_value.append(data[start:end])

        def on_header_end() -> None:
            headers[b"".join(header_name).lower()] = b"".join(header_value).strip()
            header_name.clear()
            header_value.clear()

        def on_headers_finished() -> None:
            _, options = parse_options_header(headers.get(b"content-disposition", b""))
            name = options.get(b"name", b"")
            if b"filename" in options:
                # asgi-csrf's file class refuses the write: a file came before the token.
                FileClass(options[b"filename"], name, {}).write(b"")
            current["name"] = name

        def on_part_data(data: bytes, start: int, end: int) -> None:
            value.append(data[start:end])

        def on_part_end() -> None:
            on_field(_Field(current.get("name", b""), b"".join(value)))

        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )

    def write(self, data: bytes) -> int:
        return self._parser.write(data)


def install() -> None:
    if getattr(asgi_csrf, "FormParser", None) is not TokenFirstFormParser:
        asgi_csrf.FormParser = TokenFirstFormParser

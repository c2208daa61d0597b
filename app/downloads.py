"""What a downloaded file is called, for the pages and the API alike.

Run names are free text (`模型`, `v2 / no aug`), but an HTTP header is Latin-1: a
header holding the name as typed fails to encode. RFC 6266 gives the name twice, an
ASCII fallback in `filename` and the real one, percent-encoded UTF-8, in `filename*`,
which every current browser and `requests`/`httpx` prefer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import quote

from starlette.responses import Response

# Characters no file system or shell should get from a run name: path separators,
# Windows' reserved ones, quotes and control characters. Whitespace becomes '_' too.
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f\s]+')
_NOT_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
# A run name is free text of any length; a file name is kept well under the 255 bytes
# most file systems allow.
RUN_NAME_CHARS = 80
# The filters' part stays well inside that too.
_FILTER_NAME_MAX = 80


def _visible(text: str) -> str:
    # Unicode's controls, format characters (a right-to-left override turns
    # `sheet<U+202E>xslx.exe` into what looks like an .xlsx), lone surrogates and
    # private-use characters have no place in a file name.
    return "".join(c for c in text if unicodedata.category(c)[0] != "C")


def export_filename(
    project_id: int,
    run_name: str,
    what: str,
    filtered_by: Sequence[tuple[str, str]] = (),
) -> str:
    """`eyeball-<project>-<run>-<what>`, e.g. `eyeball-3-v2-sheet.csv`; a filtered slice
    names its filters (the query parameters) before the extension, so it is not saved
    over the whole sheet: `eyeball-3-v2-sheet-cause-12_status-done.csv`."""
    run = _visible(_UNSAFE.sub("_", run_name))[:RUN_NAME_CHARS].strip("._") or "run"
    if not filtered_by:
        return f"eyeball-{project_id}-{run}-{what}"
    stem, dot, extension = what.rpartition(".")
    # A flag's value is always "1": its name says it all.
    parts = [name if value == "1" else f"{name}-{value}" for name, value in filtered_by]
    label = _safe("_".join(parts).replace("=", "-"))[:_FILTER_NAME_MAX].rstrip("._-")
    return f"eyeball-{project_id}-{run}-{stem}-{label}{dot}{extension}"


def _safe(text: str) -> str:
    return _visible(_UNSAFE.sub("_", text)).strip("._")


def content_disposition(filename: str) -> str:
    """An `attachment` header value that carries any Unicode file name."""
    filename = _visible(filename)
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = _NOT_ASCII_SAFE.sub("_", ascii_name)
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def attachment_headers(filename: str) -> dict[str, str]:
    """A file to save, never cached: it holds a project's annotations."""
    return {"Content-Disposition": content_disposition(filename), "Cache-Control": "no-store"}


def attachment(body: str | bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers=attachment_headers(filename))

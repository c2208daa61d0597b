"""The language a person reads Eyeball in, and the one layer every message goes through.

Messages are written in English in the code (templates, Python, JavaScript) and looked
up in the catalogue of the reader's language: `app/locale/<language>/LC_MESSAGES/
messages.po`, extracted and updated by `make messages` (Babel). English needs no
catalogue: the messages are English.

Which language: the reader's own choice on My account, else the first language their
browser asks for (`Accept-Language`) that Eyeball has, else the site's default
(`EYEBALL_DEFAULT_LANGUAGE`). The API and the exports always speak English: they are a
contract that programs read.

The language of the request being served is held in a context variable, so a domain
function that raises an error with a message (`_("...")`) needs no request to say it
in the reader's language.
"""

from __future__ import annotations

import functools
import gettext as stdlib_gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from babel import Locale, numbers
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy

from app import resources

if TYPE_CHECKING:  # the domain calls gettext; only the app wraps itself in the middleware
    from starlette.types import ASGIApp, Receive, Scope, Send

ENGLISH = "en"
CHINESE = "zh_CN"
# What each language is called in itself: the choice on My account.
LANGUAGES: dict[str, str] = {ENGLISH: "English", CHINESE: "简体中文"}
DOMAIN = "messages"
LOCALE_DIR = resources.LOCALE
# Paths whose answers are read by programs: always English, whatever the reader.
ENGLISH_ONLY_PREFIXES = ("/api/",)


@dataclass
class Reading:
    """The language of the request being served. One object per request, changed in
    place when the signed-in user's own choice is known: FastAPI runs dependencies
    and routes in copies of the request's context, so a new value set in one would
    not reach the next."""

    language: str
    # The API's paths: English whatever the reader's own setting.
    fixed: bool = False


_DEFAULT_READING = Reading(ENGLISH)
_reading: ContextVar[Reading] = ContextVar("eyeball_reading", default=_DEFAULT_READING)


def current_language() -> str:
    return _reading.get().language


def use_language(language: str) -> None:
    """Serve the rest of this request in `language` (the reader's own setting)."""
    if language not in LANGUAGES:
        return
    reading = _reading.get()
    if reading is _DEFAULT_READING:
        _reading.set(Reading(language))
    elif not reading.fixed:
        reading.language = language


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Within the block, messages are in `language` (a CLI command, a test)."""
    token = _reading.set(Reading(language if language in LANGUAGES else ENGLISH))
    try:
        yield
    finally:
        _reading.reset(token)


def html_lang(language: str | None = None) -> str:
    """The BCP 47 tag for `<html lang>`: zh_CN is `zh-CN`."""
    return (language or current_language()).replace("_", "-")


def negotiate(accept_language: str | None, default: str) -> str:
    """The first language the browser asks for (by its q-values) that Eyeball has.

    Any Chinese asks for Simplified Chinese, the one written Chinese Eyeball has.
    """
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            wanted.append((-quality, position, tag.lower()))
    for _quality, _position, tag in sorted(wanted):
        primary = tag.split("-")[0]
        if primary == "zh":
            return CHINESE
        if primary == "en":
            return ENGLISH
        if tag == "*":
            return default
    return default


class LanguageMiddleware:
    """Picks the language from the browser and the site default for each request;
    the signed-in user's own setting (read with the user) then overrides it."""

    def __init__(self, app: ASGIApp, default_language: str) -> None:
        self.app = app
        self.default = default_language if default_language in LANGUAGES else ENGLISH

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope.get("path", "").startswith(ENGLISH_ONLY_PREFIXES):
            reading = Reading(ENGLISH, fixed=True)
        else:
            header = None
            for name, value in scope.get("headers", []):
                if name == b"accept-language":
                    header = value.decode("latin-1")
                    break
            reading = Reading(negotiate(header, self.default))
        token = _reading.set(reading)
        try:
            await self.app(scope, receive, send)
        finally:
            _reading.reset(token)


# --- catalogues ---------------------------------------------------------------------


def catalogue_path(language: str) -> Any:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _catalogue(language: str) -> Any:
    """The language's catalogue as Babel reads it (None for English: no catalogue)."""
    if language == ENGLISH:
        return None
    with open(catalogue_path(language), "rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


@functools.cache
def translations(language: str) -> stdlib_gettext.NullTranslations:
    """The language's translations, compiled from its .po in memory once per process
    (so a checkout and a wheel need no build step, and no .mo can fall behind)."""
    catalogue = _catalogue(language)
    if catalogue is None:
        return stdlib_gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return stdlib_gettext.GNUTranslations(compiled)


def gettext(message: str, **variables: Any) -> str:
    """`message` in the reader's language; `%(name)s` placeholders filled from `variables`."""
    text = translations(current_language()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The form for `num` ("1 error", "2 errors"; Chinese has one form); `%(num)s` is `num`
    formatted for the reader."""
    text = translations(current_language()).ngettext(singular, plural, num)
    return text % {"num": format_number(num), **variables}


def pgettext(context: str, message: str, **variables: Any) -> str:
    """`message` as meant in `context`, where the same English says different things
    ("Open": a column of errors not finished, or a link that opens a run)."""
    text = translations(current_language()).pgettext(context, message)
    return text % variables if variables else text


def lazy_gettext(message: str, **variables: Any) -> Any:
    """For messages defined at import time: translated each time it is shown."""
    return LazyProxy(gettext, message, enable_cache=False, **variables)


_ = gettext


def javascript_messages(language: str | None = None) -> dict[str, list[str]]:
    """The messages of static/js/*.js in the reader's language (msgid → its forms), for
    the page to hand to `Eyeball.gettext` and `Eyeball.ngettext`. Empty in English."""
    return _javascript_messages(language or current_language())


@functools.cache
def _javascript_messages(language: str) -> dict[str, list[str]]:
    catalogue = _catalogue(language)
    if catalogue is None:
        return {}
    found: dict[str, list[str]] = {}
    for message in catalogue:
        if not message.id or not any(path.endswith(".js") for path, _line in message.locations):
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        if all(forms):
            found[key] = forms
    return found


# --- numbers and dates --------------------------------------------------------------


def _locale(language: str | None = None) -> Locale:
    return _parsed_locale(language or current_language())


# A sheet's footer writes some 250 figures, and parsing the locale and the pattern anew
# for each was half of what formatting them cost (a few languages, a few patterns).
_parsed_locale = functools.cache(Locale.parse)
_pattern = functools.cache(numbers.parse_pattern)


def format_number(value: float | int | None, digits: int | None = None) -> str:
    """12,345 (or 12,345.6 with `digits`), in the reader's locale."""
    if value is None:
        return "—"
    if digits is None:
        return numbers.format_decimal(value, locale=_locale())
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return numbers.format_decimal(value, format=pattern, locale=_locale())


def format_percent(value: float | None, digits: int = 1) -> str:
    """0.123 as 12.3%, in the reader's locale; "unknown" (translated) for None."""
    if value is None:
        return gettext("unknown")
    return _percent(current_language(), value, digits)


# Every save makes each open sheet write its footer again, nearly all of its figures the
# same as the last time: remembered, a footer's percentages cost a tenth of a
# millisecond instead of two.
@functools.lru_cache(maxsize=8192)
def _percent(language: str, value: float, digits: int) -> str:
    pattern = _pattern("0." + "0" * digits + "%" if digits else "0%")
    text: str = pattern.apply(value, _locale(language))
    return text


# Dates are shown in UTC everywhere (a team spans time zones), with the zone said.
_DATETIME_PATTERNS = {ENGLISH: "yyyy-MM-dd HH:mm 'UTC'", CHINESE: "yyyy年M月d日 HH:mm 'UTC'"}


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    language = current_language()
    pattern = _DATETIME_PATTERNS.get(language, _DATETIME_PATTERNS[ENGLISH])
    return babel_format_datetime(value, pattern, tzinfo=UTC, locale=_locale(language))

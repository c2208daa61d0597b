"""The language a person reads Eyeball in, and numbers and dates in it (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import i18n
from tests.conftest import csrf_token, sign_in
from tests.factories import bearer, make_user
from tests.routes import url


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh-Hans-SG", "zh_CN"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR,zh;q=0.5,en;q=0.4", "zh_CN"),  # the first one Eyeball has, by quality
        ("en;q=0.2,zh-CN;q=0.9", "zh_CN"),
        ("de,fr", "en"),  # none Eyeball has: the site's default
        ("zh-CN;q=0", "en"),  # q=0 means "not this one"
        ("zh-CN;q=banana", "en"),
    ],
)
def test_the_browser_language_eyeball_has_is_chosen(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header, "en") == expected


def test_without_a_language_eyeball_has_the_site_default_is_used() -> None:
    assert i18n.negotiate("de", "zh_CN") == "zh_CN"
    assert i18n.negotiate(None, "zh_CN") == "zh_CN"


def test_numbers_percentages_and_dates_follow_the_language() -> None:
    moment = datetime(2026, 12, 2, 4, 5, tzinfo=UTC)
    with i18n.speaking("en"):
        assert i18n.format_number(12345) == "12,345"
        assert i18n.format_percent(0.1234) == "12.3%"
        assert i18n.format_percent(None) == "unknown"
        assert i18n.format_datetime(moment) == "2026-12-02 04:05 UTC"
    with i18n.speaking("zh_CN"):
        assert i18n.format_number(12345) == "12,345"
        assert i18n.format_percent(0.1234) == "12.3%"
        assert i18n.format_percent(None) == "未知"
        assert i18n.format_datetime(moment) == "2026年12月2日 04:05 UTC"


def test_plurals_in_english_and_chinese() -> None:
    with i18n.speaking("en"):
        assert i18n.ngettext("%(num)s error", "%(num)s errors", 1) == "1 error"
        assert i18n.ngettext("%(num)s error", "%(num)s errors", 1200) == "1,200 errors"


def test_a_page_follows_the_browser_then_the_persons_own_choice(
    client: TestClient, session: Session
) -> None:
    make_user(session, "ada")
    session.commit()
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9"}
    page = client.get(url(client, "sign_in"), headers=chinese)
    assert '<html lang="zh-CN">' in page.text
    assert '<html lang="en">' in client.get(url(client, "sign_in")).text

    sign_in(client, "ada")
    account = client.get(url(client, "account"), headers=chinese)
    assert '<html lang="zh-CN">' in account.text
    assert "语言" in account.text  # the language setting itself, translated

    # Her own choice wins over what the browser asks for, on every page after.
    answer = client.post(
        url(client, "account_language"),
        data={"language": "en", "csrftoken": csrf_token(client)},
        headers=chinese,
    )
    assert answer.status_code == 303
    after = client.get(url(client, "account"), headers=chinese)
    assert '<html lang="en">' in after.text
    assert "Your language is saved." in after.text
    assert '<option value="en" selected>' in after.text

    client.post(
        url(client, "account_language"),
        data={"language": "zh_CN", "csrftoken": csrf_token(client)},
    )
    chosen = client.get(url(client, "account"))  # an English browser
    assert '<html lang="zh-CN">' in chosen.text
    assert "语言已保存。" in chosen.text

    # Back to following the browser.
    client.post(
        url(client, "account_language"), data={"language": "", "csrftoken": csrf_token(client)}
    )
    assert '<html lang="en">' in client.get(url(client, "account")).text


def test_a_language_eyeball_lacks_is_refused_on_the_form(
    client: TestClient, session: Session
) -> None:
    make_user(session, "ada")
    session.commit()
    sign_in(client, "ada")
    answer = client.post(
        url(client, "account_language"), data={"language": "xx", "csrftoken": csrf_token(client)}
    )
    assert answer.status_code == 422
    assert "Choose one of the languages offered." in answer.text
    assert '<html lang="en">' in answer.text


def test_the_api_speaks_english_whatever_the_reader_chose(
    client: TestClient, session: Session
) -> None:
    ada = make_user(session, "ada")
    ada.language = "zh_CN"
    session.commit()
    answer = client.get(
        "/api/v1/projects/999999", headers={**bearer(session, ada), "Accept-Language": "zh-CN"}
    )
    assert answer.status_code == 404
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in answer.text), answer.text


def test_scripts_get_their_messages_in_the_page_only_when_not_english(
    client: TestClient,
) -> None:
    chinese = client.get(url(client, "sign_in"), headers={"Accept-Language": "zh-CN"})
    assert 'id="eyeball-messages"' in chinese.text
    english = client.get(url(client, "sign_in"))
    assert 'id="eyeball-messages"' not in english.text

"""The sign-in page, the error pages and the CSRF refusal in a Chinese browser's language
(issue 18): an anonymous visitor has only their browser's Accept-Language to go by."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.accounts import throttle
from tests.conftest import csrf_token, sign_in
from tests.factories import make_user
from tests.routes import url

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}


def test_the_sign_in_page_and_its_refusals_speak_chinese(
    client: TestClient, session: Session
) -> None:
    make_user(session, "ada")
    session.commit()
    page = client.get(url(client, "sign_in"), headers=CHINESE)
    assert "登录 Eyeball" in page.text
    assert "Sign in" not in page.text

    wrong = client.post(
        url(client, "sign_in_submit"),
        data={"username": "ada", "password": "wrong", "csrftoken": csrf_token(client)},
        headers=CHINESE,
    )
    assert wrong.status_code == 400
    assert "用户名或密码错误。" in wrong.text

    for _ in range(throttle.PER_ACCOUNT):
        client.post(
            url(client, "sign_in_submit"),
            data={"username": "ada", "password": "wrong", "csrftoken": csrf_token(client)},
        )
    waited = client.post(
        url(client, "sign_in_submit"),
        data={"username": "ada", "password": "wrong", "csrftoken": csrf_token(client)},
        headers=CHINESE,
    )
    assert waited.status_code == 429
    assert "登录失败次数过多。请在 15 分钟后重试。" in waited.text


def test_error_pages_speak_the_browsers_language(client: TestClient, session: Session) -> None:
    missing = client.get("/no-such-page", headers=CHINESE)
    assert missing.status_code == 404
    assert '<html lang="zh-CN">' in missing.text
    assert "未找到" in missing.text
    assert "此地址没有内容。" in missing.text
    assert "Not found" in client.get("/no-such-page").text

    make_user(session, "bob")
    session.commit()
    sign_in(client, "bob")
    refused = client.get(url(client, "users"), headers=CHINESE)
    assert refused.status_code == 403
    assert "只有站点管理员可以执行此操作。" in refused.text


def test_the_csrf_refusal_speaks_the_browsers_language(client: TestClient) -> None:
    forged = client.post(url(client, "sign_in_submit"), data={"username": "x"}, headers=CHINESE)
    assert forged.status_code == 403
    assert '<html lang="zh-CN">' in forged.text
    assert "此表单已过期" in forged.text
    english = client.post(url(client, "sign_in_submit"), data={"username": "x"})
    assert "This form has expired or did not come from Eyeball." in english.text

"""The review screen over HTTP: pages and fragments parsed, not matched as strings."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain import verdicts
from app.domain.imports.media import prepare_image, store_image
from app.domain.imports.store import LocalMediaStore
from app.models import (
    AnnotationStatus,
    Cause,
    Prediction,
    Project,
    Run,
    Sample,
    SampleKind,
    User,
)
from tests.conftest import sign_in
from tests.factories import (
    make_annotation,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)
from tests.pages import one, soup


@dataclass
class World:
    project: Project
    run: Run
    errors: list[Prediction]
    causes: list[Cause]


@pytest.fixture
def world(session: Session, settings: Settings) -> World:
    lead, ann, bob = (
        make_user(session, "lead"),
        make_user(session, "ann"),
        make_user(session, "bob"),
    )
    project = make_project(session, lead, annotators=[ann, bob], labels=["cat", "dog", "fox"])
    run = make_run(session, project, name="r1")
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    image = prepare_image(buffer.getvalue())
    settings.ensure_dirs()
    store_image(session, LocalMediaStore(settings.media_path), image)
    errors = [
        make_prediction(
            session,
            run,
            make_sample(
                session,
                project,
                external_id=f"s{i}",
                label="cat",
                image_sha256=image.sha256 if i == 0 else None,
                text=None if i == 0 else "line one\n  indented",
                meta={"source": "cam"},
            ),
            label="dog",
            probs={"dog": 0.7, "cat": 0.2, "fox": 0.1},
            review_order=i,
        )
        for i in range(3)
    ]
    causes = [
        make_cause(session, project, "Blurry", key="1", description="Out of focus"),
        make_cause(session, project, "Dark", key="2"),
    ]
    return World(project, run, errors, causes)


def token_of(page: str) -> str:
    body = soup(page).body
    assert body is not None
    return str(json.loads(str(body["hx-headers"]))["x-csrftoken"])


def open_next(client: TestClient, project: Project) -> tuple[str, str]:
    response = client.get(f"/projects/{project.id}/review")
    assert response.status_code == 303
    url = response.headers["location"]
    page = client.get(url)
    assert page.status_code == 200
    return url, page.text


def save_url(url: str) -> str:
    return url.replace("/errors/", "/annotation/")


def post(
    client: TestClient, url: str, token: str, data: dict[str, object]
) -> tuple[int, BeautifulSoup, dict[str, str]]:
    response = client.post(url, data=data, headers={"x-csrftoken": token, "HX-Request": "true"})
    return response.status_code, soup(response.text), dict(response.headers)


def checked(doc: BeautifulSoup) -> list[str]:
    return [str(i["value"]) for i in doc.select("input[name=cause][checked]")]


def version(doc: BeautifulSoup) -> str:
    element = doc.select_one("input[name=version]")
    assert element is not None
    return str(element["value"])


def test_next_opens_the_first_error_in_order_with_everything_beside_it(
    client: TestClient, world: World
) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    assert url == f"/projects/{world.project.id}/runs/r1/errors/s0"
    doc = soup(page)
    image = doc.select_one("#media-image")
    assert image is not None
    assert "pixelated" in image["class"]
    assert one(doc, "#truth-label").get_text() == "cat"
    assert one(doc, "#predicted-label").get_text() == "dog"
    assert [th.get_text() for th in doc.select("#probabilities th")] == ["dog", "cat", "fox"]
    toggles = doc.select("#annotation label.toggle")
    assert toggles[0]["title"] == "Out of focus"
    assert [k["data-cause-key"] for k in doc.select("input[name=cause]")] == ["1", "2"]
    assert one(doc, "#my-progress").get_text() == "0 / 3"
    assert [o["value"] for o in doc.select("#project-labels option")] == ["cat", "dog", "fox"]
    assert doc.select("script[src*=htmx-ext-sse]")
    shortcuts = [dt.get_text(" ", strip=True) for dt in doc.select("#shortcuts dt")]
    assert "Ctrl + Z" in shortcuts
    assert doc.select("#history") == []  # annotators do not see who did what


def test_text_keeps_its_whitespace(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    page = client.get(f"/projects/{world.project.id}/runs/r1/errors/s1")
    pre = soup(page.text).select_one("pre#media")
    assert pre is not None
    assert pre.get_text() == "line one\n  indented"


def test_each_toggle_saves_and_returns_the_fragment(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    token = token_of(page)
    blurry, dark = (str(c.id) for c in world.causes)
    status, doc, _ = post(client, save_url(url), token, {"version": 0, "cause": [blurry]})
    assert status == 200
    assert doc.select_one("form#annotation") is not None
    assert doc.select("header") == []  # a fragment, not the page
    assert checked(doc) == [blurry]
    assert version(doc) == "1"
    status, doc, _ = post(client, save_url(url), token, {"version": 1, "cause": [blurry, dark]})
    assert checked(doc) == [blurry, dark]
    assert version(doc) == "2"


def test_a_stale_tab_is_refused_with_the_fresh_state(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    token = token_of(page)
    blurry, dark = (str(c.id) for c in world.causes)
    post(client, save_url(url), token, {"version": 0, "cause": [blurry]})
    status, doc, _ = post(client, save_url(url), token, {"version": 0, "cause": [dark]})
    assert status == 409
    message = doc.select_one("#annotation-message")
    assert message is not None
    assert "changed elsewhere" in message.get_text()
    assert checked(doc) == [blurry]
    assert version(doc) == "1"


def test_invalid_suggested_label_is_refused_with_the_reason(
    client: TestClient, world: World
) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    status, doc, _ = post(
        client,
        save_url(url),
        token_of(page),
        {"version": 0, "label_error": "1", "suggested_label": "zebra"},
    )
    assert status == 422
    assert "not one of the project's labels" in one(doc, "#annotation-message").get_text()


def test_done_goes_to_the_next_error(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    status, _, headers = post(
        client,
        save_url(url),
        token_of(page),
        {"version": 0, "cause": [str(world.causes[0].id)], "status": "done", "advance": "next"},
    )
    assert status == 204
    assert headers["hx-redirect"] == f"/projects/{world.project.id}/runs/r1/errors/s1"
    page = client.get(headers["hx-redirect"]).text
    assert one(soup(page), "#my-progress").get_text() == "1 / 3"
    back = soup(page).select_one("#go-back")
    assert back is not None
    assert back["href"] == url


def test_two_annotators_get_different_errors(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    first, _ = open_next(client, world.project)
    client.cookies.clear()
    sign_in(client, "bob")
    second, _ = open_next(client, world.project)
    assert first != second


def test_undo_takes_back_the_last_change(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    token = token_of(page)
    blurry = str(world.causes[0].id)
    post(client, save_url(url), token, {"version": 0, "cause": [blurry]})
    status, doc, _ = post(client, url.replace("/errors/", "/undo/"), token, {"version": 1})
    assert status == 200
    assert checked(doc) == []
    assert version(doc) == "2"


def test_a_new_cause_is_added_and_ticked_or_a_similar_one_offered(
    client: TestClient, world: World
) -> None:
    sign_in(client, "lead")
    url, page = open_next(client, world.project)
    token = token_of(page)
    new_cause_url = url.replace("/errors/", "/new-cause/")
    status, doc, _ = post(client, new_cause_url, token, {"version": 0, "new_cause": "Occluded"})
    assert status == 200
    ticked = [
        label.get_text(" ", strip=True)
        for label in doc.select("label.toggle")
        if label.select_one("input[name=cause][checked]")
    ]
    assert ticked == ["3 Occluded"]
    status, doc, _ = post(client, new_cause_url, token, {"version": 1, "new_cause": "blurry "})
    assert status == 200
    offers = [b.get_text(" ", strip=True) for b in doc.select("#similar button")]
    assert offers == ["Use “Blurry”", "Add “blurry ” anyway"]
    assert one(doc, "#new-cause")["value"] == "blurry "


def test_leads_see_history_and_restore(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    token = token_of(page)
    blurry, dark = (str(c.id) for c in world.causes)
    post(client, save_url(url), token, {"version": 0, "cause": [blurry]})
    post(client, save_url(url), token, {"version": 1, "cause": [dark]})
    client.cookies.clear()
    sign_in(client, "lead")
    page = client.get(url).text
    items = soup(page).select("#history li")
    assert len(items) == 2
    assert "Ann" in items[0].get_text() or "ann" in items[0].get_text()
    button = one(items[-1], "[data-restore]")
    # The page names Ann's version (the lead has none of their own here): a restore
    # sent as the page says goes through.
    assert button["data-restore-version"] == "2"
    status, doc, _ = post(
        client,
        url.replace("/errors/", "/restore/"),
        token_of(page),
        {"event": button["data-restore"], "version": button["data-restore-version"]},
    )
    assert status == 200
    # The lead's own panel is theirs; the history shows the restore as the newest change.
    assert "restore" in doc.select("#history li")[0].get_text()


def test_the_image_shown_is_served_to_the_annotator(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    _, page = open_next(client, world.project)
    src = str(one(soup(page), "#media-image")["src"])
    response = client.get(src)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


def test_project_page_links_to_the_review(client: TestClient, world: World) -> None:
    sign_in(client, "ann")
    page = soup(client.get(f"/projects/{world.project.id}").text)
    link = page.select_one("#start-reviewing")
    assert link is not None
    assert link["href"] == f"/projects/{world.project.id}/review?run=r1"


def test_an_empty_queue_says_so(client: TestClient, session: Session) -> None:
    lead = make_user(session, "lonely")
    project = make_project(session, lead)
    make_run(session, project, name="empty")
    sign_in(client, "lonely")
    response = client.get(f"/projects/{project.id}/review")
    assert response.status_code == 200
    heading = soup(response.text).select_one("#queue-empty h1")
    assert heading is not None
    assert heading.get_text() == "Your queue is empty"


def test_a_lead_asks_for_revisits(client: TestClient, world: World, tmp_path: Path) -> None:
    sign_in(client, "lead")
    url, page = open_next(client, world.project)
    form = soup(page).select_one("#revisit-form")
    assert form is not None
    csrftoken = one(form, "input[name=csrftoken]")["value"]
    response = client.post(
        str(form["action"]),
        data={"cause": world.causes[0].id, "back": url, "csrftoken": csrftoken},
    )
    assert response.status_code == 303
    assert response.headers["location"] == url + "?revisits=0"
    shown = soup(client.get(response.headers["location"]).text).select_one("#revisits-asked")
    assert shown is not None


def test_skip_with_a_reason_and_unsure_finish_the_error(
    client: TestClient, world: World, session: Session
) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    status, _, headers = post(
        client,
        save_url(url),
        token_of(page),
        {"version": 0, "status": "skipped", "skip_reason": "cannot tell", "advance": "next"},
    )
    assert status == 204
    following = headers["hx-redirect"]
    doc = soup(client.get(url).text)
    assert one(doc, "#status").get_text() == "skipped"
    assert one(doc, "#skip-reason")["value"] == "cannot tell"
    page = client.get(following).text
    status, _, headers = post(
        client,
        save_url(following),
        token_of(page),
        {"version": 0, "status": "unsure", "advance": "next"},
    )
    assert status == 204
    assert headers["hx-redirect"].endswith("/errors/s2")


def test_a_revisit_is_offered_first_and_marked(
    client: TestClient, world: World, session: Session
) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    post(client, save_url(url), token_of(page), {"version": 0, "status": "done"})
    client.cookies.clear()
    sign_in(client, "lead")
    cause = make_cause(session, world.project, "Found later")
    cause.created_at = cause.created_at.replace(year=cause.created_at.year + 1)
    session.flush()
    lead_page = client.get(url).text
    form = soup(lead_page).select_one("#revisit-form")
    assert form is not None
    response = client.post(
        str(form["action"]),
        data={
            "cause": cause.id,
            "back": url,
            "csrftoken": one(form, "input[name=csrftoken]")["value"],
        },
    )
    assert response.headers["location"] == url + "?revisits=1"
    client.cookies.clear()
    sign_in(client, "ann")
    again, page = open_next(client, world.project)
    assert again == url
    assert soup(page).select_one("#revisit-badge") is not None


def test_the_annotation_panel_opened_as_a_page_leads_to_the_review_screen(
    client: TestClient, world: World
) -> None:
    sign_in(client, "ann")
    url, _ = open_next(client, world.project)
    panel = client.get(save_url(url))  # a reload, or a copied link, of the fragment's URL
    assert panel.status_code == 303
    assert panel.headers["location"] == url
    fragment = client.get(save_url(url), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert soup(fragment.text).select("input[name=cause]")


def test_a_save_sent_without_scripts_is_kept_and_leads_back_to_the_screen(
    client: TestClient, world: World
) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    blurry = str(world.causes[0].id)
    response = client.post(
        save_url(url),
        data={"version": 0, "cause": [blurry]},
        headers={"x-csrftoken": token_of(page)},  # no HX-Request: a plain form post
    )
    assert response.status_code == 303
    assert response.headers["location"] == url
    assert checked(soup(client.get(url).text)) == [blurry]


def test_an_error_that_stayed_wrong_offers_the_earlier_verdict_until_marked(
    client: TestClient, world: World, session: Session
) -> None:
    """r1's consensus on s0 (Dark) is offered on r2's review screen, counts for nothing
    there, and goes once the annotator marks the error."""
    annotator = session.scalar(select(User).where(User.username == "ann"))
    assert annotator is not None
    dark = world.causes[1]
    done = AnnotationStatus.DONE
    make_annotation(session, world.errors[0], annotator, status=done, causes=[dark])
    r2 = make_run(session, world.project, name="r2")
    sample = session.get(Sample, world.errors[0].sample_id)
    assert sample is not None
    again = make_prediction(session, r2, sample, label="dog")
    session.flush()
    sign_in(client, "ann")
    url = f"/projects/{world.project.id}/runs/r2/errors/s0"
    page = soup(client.get(url).text)
    carried = page.select_one("#carried")
    assert carried is not None
    assert "In run r1" in carried.get_text(" ", strip=True)
    assert "Dark" in carried.get_text()
    assert carried["data-cause-ids"] == str(dark.id)
    assert checked(page) == []  # a suggestion: nothing ticked, nothing stored
    assert verdicts.stored(session, [again.id]) == {}

    form = {"version": 0, "cause": [str(dark.id)]}
    status, doc, _ = post(client, save_url(url), token_of(str(page)), form)
    assert status == 200
    assert checked(doc) == [str(dark.id)]
    assert doc.select_one("#carried") is None


def test_a_fresh_error_is_not_started_and_in_progress_once_touched(
    client: TestClient, world: World
) -> None:
    sign_in(client, "ann")
    url, page = open_next(client, world.project)
    assert one(soup(page), "#status").get_text() == "not started"
    status, doc, _ = post(
        client, save_url(url), token_of(page), {"version": "0", "cause": world.causes[0].id}
    )
    assert status == 200
    assert one(doc, "#status").get_text() == "in progress"


@pytest.mark.parametrize(
    ("kind", "example"),
    [(SampleKind.IMAGE, "e.g. Blurry"), (SampleKind.TEXT, "e.g. Sarcasm")],
)
def test_the_new_cause_example_fits_the_projects_kind(
    client: TestClient, world: World, session: Session, kind: SampleKind, example: str
) -> None:
    world.project.kind = kind
    session.flush()
    sign_in(client, "lead")
    _, page = open_next(client, world.project)
    assert one(soup(page), "#new-cause")["placeholder"] == example

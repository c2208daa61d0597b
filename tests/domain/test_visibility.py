"""Blind review: every reader holds back others' verdicts on an error until the viewer
has finished their own review of it; then the consensus, and each person's marks only
if the project says so. Leads see everything.

The shared run (tests/sheet_data.py) from bob's side: he finished e1, e2 and e5; on e3
(ann and the lead finished it; the lead's vote settled a tie) and e4 (ann only) he has
not reviewed anything, so he must see nothing of theirs there.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from app.db import Database
from app.domain.analysis.annotation_export import pages, request_export
from app.domain.analysis.dashboard import summary
from app.domain.analysis.error_pages import errors_page
from app.domain.analysis.sheet import ErrorRow, open_run
from app.domain.analysis.views import Filters, Sort, live_update, open_sheet, tally
from app.domain.errors import InvalidInput
from app.domain.projects.access import LeadsOnly, ProjectAccess, get_access
from app.domain.projects.causes import cause_counts
from app.domain.review import screen
from app.domain.review.annotations import Draft, find_annotation, save
from app.domain.review.carried import carried_verdict
from app.domain.review.visibility import visibility_of
from app.domain.verdicts import ErrorStatus
from app.models import AnnotationKind, AnnotationStatus, Cause, Sample, User
from tests.factories import make_annotation, make_cause, make_prediction, make_run
from tests.sheet_data import NOTE, SUGGESTED, Fixture, build_with_secrets

DONE = AnnotationStatus.DONE


@pytest.fixture
def f(session: Session) -> Fixture:
    return build_with_secrets(session)


def access_of(session: Session, f: Fixture, user: User) -> ProjectAccess:
    session.refresh(f.project)
    return get_access(session, user, f.project.id)


def rows_by_id(
    session: Session, access: ProjectAccess, filters: Filters = Filters()
) -> dict[str, ErrorRow]:
    view = open_sheet(session, access, "v1", filters, Sort())
    return {r.external_id: r for r in view.rows}


def finish(session: Session, f: Fixture, user: User, key: str, *causes: Cause) -> None:
    access = get_access(session, user, f.project.id)
    mine = find_annotation(session, f.errors[key].id, user.id)
    save(
        session,
        access,
        f.errors[key],
        Draft(frozenset(c.id for c in causes), status=DONE),
        expected_version=mine.version if mine else 0,
    )
    session.flush()


def reveal(session: Session, f: Fixture) -> None:
    f.project.reveal_marks = True
    session.flush()


# --- the sheet's rows ----------------------------------------------------------------


def test_sheet_rows_hold_back_others_verdicts_until_the_viewer_finished(
    session: Session, f: Fixture
) -> None:
    rows = rows_by_id(session, access_of(session, f, f.bob))
    e3, e4 = rows["e3"], rows["e4"]
    # Nothing of ann's or the lead's: no consensus, no flag, no votes, no note, no name.
    for row, hidden in ((e3, 2), (e4, 1)):
        assert (row.verdict, row.disagreement, row.adjudication, row.marks) == (
            None,
            False,
            None,
            (),
        )
        assert (row.note, row.annotators, row.label_error) == ("", "", False)
        assert all(row.votes(c) == 0 for c in (f.a.id, f.b.id, f.c.id))
        assert row.hidden == hidden
    assert e3.hidden_message == "2 other reviews hidden until you finish yours"
    assert e4.hidden_message == "1 other review hidden until you finish yours"
    # Not even its status: "done" would say others finished it.
    assert (e3.status, e4.status) == (ErrorStatus.QUEUED, ErrorStatus.QUEUED)
    # Finished by bob: the consensus, and (by default) only his own marks.
    e1, e5 = rows["e1"], rows["e5"]
    assert e1.causes == {f.a.id}
    assert [m.annotator for m in e1.marks] == ["bob"]
    assert e5.causes == {f.c.id}
    assert e5.label_error
    assert e5.adjudication is None
    assert e1.hidden == 0


def test_after_finishing_the_setting_decides_whether_others_marks_show(
    session: Session, f: Fixture
) -> None:
    finish(session, f, f.bob, "e3", f.c)
    e3 = rows_by_id(session, access_of(session, f, f.bob))["e3"]
    assert e3.causes == {f.c.id}  # the consensus: the lead and bob
    assert [m.annotator for m in e3.marks] == ["bob"]
    assert NOTE not in e3.note
    reveal(session, f)
    e3 = rows_by_id(session, access_of(session, f, f.bob))["e3"]
    assert [m.annotator for m in e3.marks] == ["ann", "lead", "bob"]
    assert NOTE in e3.note
    # e4 is still his to do: still hidden, whatever the setting.
    e4 = rows_by_id(session, access_of(session, f, f.bob))["e4"]
    assert (e4.marks, e4.hidden) == ((), 1)


def test_a_lead_sees_everything_and_so_does_everyone_without_blind_review(
    session: Session, f: Fixture
) -> None:
    e3 = rows_by_id(session, access_of(session, f, f.lead))["e3"]
    assert [m.annotator for m in e3.marks] == ["ann", "lead"]
    assert (e3.causes, e3.disagreement, e3.hidden) == (frozenset({f.c.id}), True, 0)
    f.project.blind_review = False
    session.flush()
    e3 = rows_by_id(session, access_of(session, f, f.bob))["e3"]
    assert [m.annotator for m in e3.marks] == ["ann", "lead"]
    assert NOTE in e3.note
    assert e3.hidden == 0


# --- filters and sort ----------------------------------------------------------------


def test_filters_and_sort_never_tell_of_a_hidden_verdict(session: Session, f: Fixture) -> None:
    bob, lead = access_of(session, f, f.bob), access_of(session, f, f.lead)
    tiny = Filters(causes=frozenset({f.c.id}))
    assert set(rows_by_id(session, lead, tiny)) == {"e3", "e5"}
    assert set(rows_by_id(session, bob, tiny)) == {"e5"}
    assert set(rows_by_id(session, bob, Filters(disagreements=True))) == {"e2"}
    assert set(rows_by_id(session, bob, Filters(label_error=True))) == {"e5"}
    # Another annotator's reviews: refused plainly while marks are never shown...
    with pytest.raises(InvalidInput) as refused:
        rows_by_id(session, bob, Filters(annotator=f.ann.id))
    assert "your own reviews only" in refused.value.fields["annotator"]
    assert set(rows_by_id(session, bob, Filters(annotator=f.bob.id))) == {"e1", "e2", "e5"}
    # ... and, once they may be, only on the errors he finished.
    reveal(session, f)
    assert set(rows_by_id(session, access_of(session, f, f.bob), Filters(annotator=f.ann.id))) == {
        "e1",
        "e2",
        "e5",
    }
    # The filter's choices: everyone with reviews only when their marks can be shown.
    f.project.reveal_marks = False
    session.flush()
    assert open_run(session, access_of(session, f, f.bob), "v1").annotators == ((f.bob.id, "bob"),)
    # Sorting by a cause puts the errors whose consensus holds it first: never e3 for bob.
    sorted_rows = open_sheet(session, bob, "v1", Filters(), Sort.parse(f"cause:{f.c.id}")).rows
    assert [r.external_id for r in sorted_rows] == ["e5", "e1", "e2", "e3", "e4", "e6"]
    by_note = open_sheet(session, bob, "v1", Filters(), Sort.parse("-note")).rows
    assert by_note[0].external_id != "e3"


def test_a_blind_viewer_sees_the_status_of_their_own_review_until_they_finished_it(
    session: Session, f: Fixture
) -> None:
    """Another's "unsure" or "skipped" is their judgement, "partial" or "done" says others
    finished: none of it reaches bob before he finishes, on the rows, in the status
    filter or in the order by status, and the three agree."""
    ann = get_access(session, f.ann, f.project.id)
    save(session, ann, f.errors["e6"], Draft(status=AnnotationStatus.UNSURE), expected_version=0)
    bob_e4 = get_access(session, f.bob, f.project.id)
    save(
        session, bob_e4, f.errors["e4"], Draft(status=AnnotationStatus.SKIPPED), expected_version=0
    )
    session.flush()
    lead, bob = access_of(session, f, f.lead), access_of(session, f, f.bob)
    as_lead = {k: r.status.value for k, r in rows_by_id(session, lead).items()}
    as_bob = {k: r.status.value for k, r in rows_by_id(session, bob).items()}
    assert as_lead == {
        "e1": "done",
        "e2": "done",
        "e3": "done",
        "e4": "partial",
        "e5": "adjudicated",
        "e6": "unsure",
    }
    # e1, e2, e5 finished by bob: as they are; e4 his skip; e3 and e6 not his: queued.
    assert as_bob == {
        "e1": "done",
        "e2": "done",
        "e3": "queued",
        "e4": "skipped",
        "e5": "adjudicated",
        "e6": "queued",
    }
    for access, seen in ((lead, as_lead), (bob, as_bob)):
        for status in ErrorStatus:
            kept = set(rows_by_id(session, access, Filters(status=status)))
            assert kept == {k for k, v in seen.items() if v == status.value}, status
        order = [s.value for s in ErrorStatus]
        by_status = open_sheet(session, access, "v1", Filters(), Sort.parse("status")).rows
        ranks = [order.index(r.status.value) for r in by_status]
        assert ranks == sorted(ranks)
    # Once he finished e3, its status is the team's.
    finish(session, f, f.bob, "e3", f.c)
    assert rows_by_id(session, access_of(session, f, f.bob))["e3"].status is ErrorStatus.DONE


# --- the footer, the tally, the project page's summary --------------------------------


def test_the_footer_counts_only_what_the_viewer_finished_and_says_what_is_hidden(
    session: Session, f: Fixture
) -> None:
    lead = tally(session, open_run(session, access_of(session, f, f.lead), "v1"))
    assert (lead.examined, lead.hidden, lead.blind) == (4, 0, False)
    assert {c.column.name: c.share.count for c in lead.causes}["tiny"] == 2
    bob = tally(session, open_run(session, access_of(session, f, f.bob), "v1"))
    # e1, e2 and e5: e3's consensus (tiny, the lead's vote) is not in his figures.
    assert (bob.rows, bob.examined, bob.examined_in_run, bob.blind) == (6, 3, 3, True)
    assert {c.column.name: c.share.count for c in bob.causes} == {"blurry": 2, "dark": 0, "tiny": 1}
    assert bob.label_errors.count == 1  # e5 (adjudicated); not ann's flag on e3
    assert bob.hidden == 3  # ann's and the lead's on e3, ann's on e4
    assert bob.hidden_message == "3 other reviews hidden until you finish yours"
    # Agreement adds up each person's marks: not for him while marks are not shown.
    assert not bob.agreement_shown
    assert bob.label_error_agreement.errors == 0
    night = tally(
        session,
        open_run(session, access_of(session, f, f.bob), "v1"),
        Filters(meta_key="time", meta_value="night"),  # e1, e3, e5
    )
    assert (night.rows, night.examined, night.examined_in_run, night.hidden) == (3, 2, 3, 2)
    finish(session, f, f.bob, "e3", f.c)
    after = tally(session, open_run(session, access_of(session, f, f.bob), "v1"))
    assert (after.examined, after.hidden) == (4, 1)
    assert {c.column.name: c.share.count for c in after.causes}["tiny"] == 2
    reveal(session, f)
    revealed = tally(session, open_run(session, access_of(session, f, f.bob), "v1"))
    assert revealed.agreement_shown
    assert revealed.label_error_agreement.errors > 0


def test_the_project_summary_shows_a_blind_annotator_only_their_own_tally(
    session: Session, f: Fixture
) -> None:
    board = summary(session, access_of(session, f, f.bob), "v1")
    assert [a.name for a in board.annotators] == ["bob"]
    assert board.tally.hidden == 3
    lead = summary(session, access_of(session, f, f.lead), "v1")
    assert {a.name for a in lead.annotators} == {"ann", "bob", "lead"}


# --- the API's errors page -----------------------------------------------------------


def test_the_errors_page_holds_back_what_the_sheet_does(session: Session, f: Fixture) -> None:
    page = errors_page(session, access_of(session, f, f.bob), "v1", Filters())
    rows = {r.external_id: r for r in page.rows}
    assert (rows["e3"].marks, rows["e3"].causes, rows["e3"].hidden) == ((), frozenset(), 2)
    assert f.ann.id not in page.usernames
    assert f.lead.id not in page.usernames
    lead = errors_page(session, access_of(session, f, f.lead), "v1", Filters())
    assert [m.annotator for m in {r.external_id: r for r in lead.rows}["e3"].marks] == [
        "ann",
        "lead",
    ]


# --- exports -------------------------------------------------------------------------


def test_an_annotators_export_is_their_own_reviews_and_nothing_else(
    session: Session, database: Database, f: Fixture
) -> None:
    # An adjudication bob wrote while he led the project (rows outlive roles) is not
    # "own": it settled a consensus of everyone's marks.
    make_annotation(session, f.errors["e1"], f.bob, kind=AnnotationKind.ADJUDICATION, status=DONE)
    request = request_export(session, access_of(session, f, f.bob), "v1")
    _, rows = pages(database.reader, request)
    exported = [row for page in rows for row in page]
    assert {(r["annotator"], r["kind"]) for r in exported} == {("bob", "review")}
    assert sorted(r["sample_id"] for r in exported) == ["e1", "e2", "e5"]
    assert not any(NOTE in str(r) or SUGGESTED in str(r) for r in exported)
    # Blind or not, an annotator downloads their own work; a lead everyone's.
    f.project.blind_review = False
    session.flush()
    assert request_export(session, access_of(session, f, f.bob), "v1").annotator_id == f.bob.id
    lead = request_export(session, access_of(session, f, f.lead), "v1")
    assert lead.annotator_id is None
    everyone = [row for page in pages(database.reader, lead)[1] for row in page]
    assert any(r["suggested_label"] == SUGGESTED for r in everyone)


def test_an_annotators_export_has_no_column_of_an_archived_cause_only_others_used(
    session: Session, database: Database, f: Fixture
) -> None:
    # c was marked by the lead (e3) and the adjudication (e5), b by ann and by bob (e5):
    # archived, each stays a column only where the export holds annotations that use it.
    f.b.archived_at = f.c.archived_at = datetime.now(UTC)
    session.flush()
    bob, _ = pages(database.reader, request_export(session, access_of(session, f, f.bob), "v1"))
    lead, _ = pages(database.reader, request_export(session, access_of(session, f, f.lead), "v1"))
    assert f"cause:{f.b.name}" in bob
    assert f"cause:{f.c.name}" not in bob
    assert {f"cause:{f.b.name}", f"cause:{f.c.name}"} <= set(lead)


def test_the_sheet_has_no_column_of_an_archived_cause_only_others_marked_where_hidden(
    session: Session, f: Fixture
) -> None:
    # ann marks a fourth cause on e4, which bob has not reviewed; then it is archived.
    torn = make_cause(session, f.project, "torn")
    mine = find_annotation(session, f.errors["e4"].id, f.ann.id)
    assert mine is not None
    save(
        session,
        get_access(session, f.ann, f.project.id),
        f.errors["e4"],
        Draft(frozenset({f.a.id, torn.id}), status=DONE),
        expected_version=mine.version,
    )
    torn.archived_at = f.b.archived_at = datetime.now(UTC)
    session.flush()

    def columns(user: User) -> set[str]:
        return {c.name for c in open_run(session, access_of(session, f, user), "v1").columns}

    assert {"torn", "dark"} <= columns(f.lead)
    # dark: bob marked it himself (e5). torn: only ann, on an error bob has not finished.
    assert "dark" in columns(f.bob)
    assert "torn" not in columns(f.bob)
    reveal(session, f)
    assert "torn" not in columns(f.bob)
    finish(session, f, f.bob, "e4")
    assert "torn" in columns(f.bob)  # finished, and others' marks are shown


# --- the review screen: history and carried verdicts ----------------------------------


def test_the_history_of_an_error_is_for_leads(session: Session, f: Fixture) -> None:
    with pytest.raises(LeadsOnly):
        screen.error_history(session, access_of(session, f, f.bob), f.errors["e3"])
    changes = screen.error_history(session, access_of(session, f, f.lead), f.errors["e3"])
    assert any(NOTE in str(c.event.after) for c in changes)


def test_an_earlier_runs_consensus_is_carried_only_once_the_viewer_finished_it(
    session: Session, f: Fixture
) -> None:
    v2 = make_run(session, f.project, name="v2")
    sample_id = f.errors["e3"].sample_id
    sample = session.get(Sample, sample_id)
    assert sample is not None
    make_prediction(session, v2, sample, label="dog", in_review=True, review_order=1)
    bob, lead = access_of(session, f, f.bob), access_of(session, f, f.lead)
    assert carried_verdict(session, f.project, v2, sample_id, seen_by=visibility_of(lead))
    assert carried_verdict(session, f.project, v2, sample_id, seen_by=visibility_of(bob)) is None
    finish(session, f, f.bob, "e3", f.c)
    carried = carried_verdict(session, f.project, v2, sample_id, seen_by=visibility_of(bob))
    assert carried is not None
    assert carried.causes == ("tiny",)


# --- live events ---------------------------------------------------------------------


def test_a_blind_annotators_live_events_say_only_which_error_changed(
    session: Session, f: Fixture
) -> None:
    saved = {"prediction": 7, "run": 1, "annotator": f.ann.id, "version": 3}
    assert visibility_of(access_of(session, f, f.bob)).event(saved) == {"prediction": 7, "run": 1}
    assert visibility_of(access_of(session, f, f.lead)).event(saved) == saved


def test_a_live_update_of_the_sheet_is_the_viewers_own_view(session: Session, f: Fixture) -> None:
    """The row a live event makes bob's sheet ask for after ann saved e4 is his view."""
    ann = get_access(session, f.ann, f.project.id)
    mine = find_annotation(session, f.errors["e4"].id, f.ann.id, AnnotationKind.REVIEW)
    assert mine is not None
    save(
        session,
        ann,
        f.errors["e4"],
        Draft(frozenset({f.b.id}), note=NOTE, status=DONE),
        expected_version=mine.version,
    )
    session.flush()
    bob = access_of(session, f, f.bob)
    shown = [r.prediction_id for r in open_sheet(session, bob, "v1", Filters(), Sort()).rows]
    columns = [c.id for c in open_run(session, bob, "v1").columns]
    update = live_update(
        session,
        bob,
        "v1",
        Filters(),
        Sort(),
        1,
        changed=[f.errors["e4"].id],
        shown=shown,
        columns=columns,
    )
    assert update.same_rows
    (row,) = update.rows
    assert (row.marks, row.note, row.hidden) == ((), "", 1)
    assert update.view.tally.hidden == 3


# --- how often each cause is used ------------------------------------------------------


def test_cause_counts_count_what_the_viewer_may_see(session: Session, f: Fixture) -> None:
    """A count that moves while someone works would tell what they mark."""
    project = f.project
    bob = visibility_of(access_of(session, f, f.bob))
    # His own: blurry on e1 and e2, dark on e5 (others' marks are never shown here).
    assert cause_counts(session, project, bob) == {f.a.id: 2, f.b.id: 1}
    lead = cause_counts(session, project, visibility_of(access_of(session, f, f.lead)))
    assert lead == {f.a.id: 6, f.b.id: 3, f.c.id: 2}
    reveal(session, f)
    revealed = cause_counts(session, project, visibility_of(access_of(session, f, f.bob)))
    # Now also the others' reviews of e1, e2 and e5 (ann: blurry, blurry+dark, blurry).
    assert revealed == {f.a.id: 5, f.b.id: 2}

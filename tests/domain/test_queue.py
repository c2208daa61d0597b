"""The work queue: fixed random order, overlap, no duplicates, leases, revisits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import NotFound, PermissionDenied
from app.domain.projects.access import ProjectAccess, get_access
from app.domain.review import annotations as ann
from app.domain.review import queue
from app.domain.review import screen as review
from app.models import (
    Annotation,
    AnnotationStatus,
    Prediction,
    Project,
    ReviewLease,
    Run,
    User,
    utcnow,
)
from tests.factories import (
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def make_errors(session: Session, project: Project, run: Run, n: int) -> list[Prediction]:
    """n errors under review; review_order deliberately differs from creation order."""
    predictions = []
    for i in range(n):
        sample = make_sample(session, project, external_id=f"e{i}", label="cat")
        predictions.append(
            make_prediction(session, run, sample, label="dog", review_order=(i * 7) % n)
        )
    return predictions


def in_queue_order(predictions: list[Prediction]) -> list[int]:
    return [p.id for p in sorted(predictions, key=lambda p: p.review_order or 0)]


def finish(
    session: Session,
    access: ProjectAccess,
    prediction: Prediction,
    status: AnnotationStatus = AnnotationStatus.DONE,
) -> None:
    annotation = ann.find_annotation(session, prediction.id, access.user.id)
    ann.save(
        session,
        access,
        prediction,
        ann.Draft(status=status),
        expected_version=annotation.version if annotation else 0,
    )
    queue.release(session, access, prediction)


Team = tuple[Project, Run, list[User]]


@pytest.fixture
def team(session: Session) -> Team:
    lead = make_user(session)
    annotators = [make_user(session) for _ in range(3)]
    project = make_project(session, lead, annotators=annotators)
    return project, make_run(session, project), annotators


def access_of(session: Session, user: User, project: Project) -> ProjectAccess:
    return get_access(session, user, project.id)


def test_errors_come_in_the_fixed_review_order(session: Session, team: Team) -> None:
    project, run, (alice, *_) = team
    errors = make_errors(session, project, run, 7)
    access = access_of(session, alice, project)
    served = []
    while (offer := queue.next_error(session, access, run)) is not None:
        served.append(offer.prediction.id)
        finish(session, access, offer.prediction)
    assert served == in_queue_order(errors)


def test_asking_again_without_finishing_gives_the_same_error(session: Session, team: Team) -> None:
    project, run, (alice, *_) = team
    make_errors(session, project, run, 3)
    access = access_of(session, alice, project)
    first = queue.next_error(session, access, run)
    again = queue.next_error(session, access, run)
    assert first is not None
    assert again is not None
    assert again.prediction.id == first.prediction.id


def test_two_annotators_asking_at_once_get_different_errors(session: Session, team: Team) -> None:
    project, run, annotators = team
    make_errors(session, project, run, 5)
    offers = [queue.next_error(session, access_of(session, u, project), run) for u in annotators]
    ids = [o.prediction.id for o in offers if o is not None]
    assert len(ids) == 3
    assert len(set(ids)) == 3


def test_a_leased_error_is_not_offered_even_with_room_under_the_overlap_while_others_wait(
    session: Session,
    team: Team,
) -> None:
    project, run, (alice, bob, _) = team
    project.overlap = 2
    errors = make_errors(session, project, run, 2)
    a = queue.next_error(session, access_of(session, alice, project), run)
    b = queue.next_error(session, access_of(session, bob, project), run)
    assert a is not None
    assert b is not None
    assert a.prediction.id != b.prediction.id  # an unclaimed one remained
    assert {a.prediction.id, b.prediction.id} == {e.id for e in errors}


def test_with_overlap_two_each_error_is_offered_until_two_finish_it(
    session: Session, team: Team
) -> None:
    project, run, (alice, bob, carol) = team
    project.overlap = 2
    [error] = make_errors(session, project, run, 1)
    for user in (alice, bob):
        access = access_of(session, user, project)
        offer = queue.next_error(session, access, run)
        assert offer is not None
        assert offer.prediction.id == error.id
        finish(session, access, offer.prediction)
    assert queue.next_error(session, access_of(session, carol, project), run) is None
    progress = queue.progress(session, access_of(session, carol, project), run)
    assert (progress.team_done, progress.total) == (1, 1)


def test_an_annotator_never_gets_an_error_they_finished_skipped_or_were_unsure_of(
    session: Session,
    team: Team,
) -> None:
    project, run, (alice, *_) = team
    project.overlap = 3
    make_errors(session, project, run, 3)
    access = access_of(session, alice, project)
    seen = []
    for status in (AnnotationStatus.DONE, AnnotationStatus.SKIPPED, AnnotationStatus.UNSURE):
        offer = queue.next_error(session, access, run)
        assert offer is not None
        seen.append(offer.prediction.id)
        finish(session, access, offer.prediction, status)
    assert len(set(seen)) == 3
    assert queue.next_error(session, access, run) is None


def test_a_skipped_error_goes_to_someone_else(session: Session, team: Team) -> None:
    project, run, (alice, bob, _) = team
    [error] = make_errors(session, project, run, 1)
    alice_access = access_of(session, alice, project)
    offer = queue.next_error(session, alice_access, run)
    assert offer is not None
    assert queue.next_error(session, access_of(session, bob, project), run) is None  # leased
    finish(session, alice_access, offer.prediction, AnnotationStatus.SKIPPED)
    offer_bob = queue.next_error(session, access_of(session, bob, project), run)
    assert offer_bob is not None
    assert offer_bob.prediction.id == error.id


def test_an_expired_lease_frees_the_error(session: Session, team: Team) -> None:
    project, run, (alice, bob, _) = team
    [error] = make_errors(session, project, run, 1)
    now = utcnow()
    assert queue.next_error(session, access_of(session, alice, project), run, now=now)
    bob_access = access_of(session, bob, project)
    soon = now + timedelta(seconds=queue.LEASE_SECONDS - 1)
    assert queue.next_error(session, bob_access, run, now=soon) is None
    later = now + timedelta(seconds=queue.LEASE_SECONDS + 1)
    offer = queue.next_error(session, bob_access, run, now=later)
    assert offer is not None
    assert offer.prediction.id == error.id


def test_a_person_holds_one_lease_at_a_time(session: Session, team: Team) -> None:
    project, run, (alice, *_) = team
    first, second = make_errors(session, project, run, 2)
    access = access_of(session, alice, project)
    queue.hold(session, access, first)
    queue.hold(session, access, second)
    leases = session.scalars(select(ReviewLease).where(ReviewLease.user_id == alice.id)).all()
    assert [lease.prediction_id for lease in leases] == [second.id]


def test_own_unfinished_work_comes_back_first(session: Session, team: Team) -> None:
    project, run, (alice, *_) = team
    errors = make_errors(session, project, run, 3)
    access = access_of(session, alice, project)
    last = sorted(errors, key=lambda p: p.review_order or 0)[-1]
    ann.save(session, access, last, ann.Draft(note="half done"), expected_version=0)
    queue.release(session, access, last)
    offer = queue.next_error(session, access, run)
    assert offer is not None
    assert offer.prediction.id == last.id


def test_jumping_to_an_error_by_its_sample_id(session: Session, team: Team) -> None:
    project, run, (alice, *_) = team
    errors = make_errors(session, project, run, 2)
    access = access_of(session, alice, project)
    offer = queue.find_error(session, access, run, "e1")
    assert offer.prediction.id == errors[1].id
    with pytest.raises(NotFound):
        queue.find_error(session, access, run, "nope")


def test_revisit_offers_errors_finished_before_a_new_cause_marked_as_revisits(
    session: Session,
    team: Team,
) -> None:
    project, run, (alice, *_) = team
    errors = make_errors(session, project, run, 3)
    access = access_of(session, alice, project)
    finished = []
    for _ in range(2):
        offer = queue.next_error(session, access, run)
        assert offer is not None
        finish(session, access, offer.prediction)
        finished.append(offer.prediction.id)
    # Finished a minute ago; the cause is found now.
    for annotation in session.scalars(select(Annotation)):
        annotation.updated_at = utcnow() - timedelta(minutes=1)
    session.flush()
    cause = make_cause(session, project, "new idea")
    lead_access = get_access(session, session.get_one(User, _lead_id(session, project)), project.id)
    assert queue.request_revisit(session, lead_access, cause) == 2

    offered = []
    for _ in range(2):
        offer = queue.next_error(session, access, run)
        assert offer is not None
        assert offer.revisit
        offered.append(offer.prediction.id)
        # Looked again, nothing to change: finishing answers the revisit.
        mine = ann.find_annotation(session, offer.prediction.id, alice.id)
        assert mine is not None
        review.finish(
            session,
            access,
            run,
            offer.prediction,
            ann.Draft(status=AnnotationStatus.DONE),
            expected_version=mine.version,
        )
        queue.release(session, access, offer.prediction)
    assert offered == finished
    assert queue.request_revisit(session, lead_access, cause) == 0  # already answered
    remaining = queue.next_error(session, access, run)
    assert remaining is not None
    assert not remaining.revisit
    assert remaining.prediction.id not in finished
    assert {e.id for e in errors} == {*finished, remaining.prediction.id}


def _lead_id(session: Session, project: Project) -> int:
    from app.models import Membership, ProjectRole

    return session.scalars(
        select(Membership.user_id).where(
            Membership.project_id == project.id, Membership.role == ProjectRole.LEAD
        )
    ).one()


def test_only_leads_ask_for_revisits(session: Session, team: Team) -> None:
    project, _, (alice, *_) = team
    cause = make_cause(session, project, "x")
    with pytest.raises(PermissionDenied):
        queue.request_revisit(session, access_of(session, alice, project), cause)


def test_progress_counts_mine_and_the_teams(session: Session, team: Team) -> None:
    project, run, (alice, bob, _) = team
    make_errors(session, project, run, 4)
    alice_access = access_of(session, alice, project)
    for _ in range(2):
        offer = queue.next_error(session, alice_access, run)
        assert offer is not None
        finish(session, alice_access, offer.prediction)
    mine = queue.progress(session, alice_access, run)
    assert (mine.my_done, mine.my_total, mine.team_done, mine.total) == (2, 4, 2, 4)
    bobs = queue.progress(session, access_of(session, bob, project), run)
    assert (bobs.my_done, bobs.my_total) == (0, 2)  # overlap 1: alice's two are taken


def test_my_total_stays_the_same_when_i_skip_or_am_unsure(session: Session, team: Team) -> None:
    project, run, (alice, _, _) = team
    make_errors(session, project, run, 4)
    alice_access = access_of(session, alice, project)
    assert queue.progress(session, alice_access, run).my_total == 4
    for status in (AnnotationStatus.SKIPPED, AnnotationStatus.UNSURE, AnnotationStatus.DONE):
        offer = queue.next_error(session, alice_access, run)
        assert offer is not None
        finish(session, alice_access, offer.prediction, status)
        mine = queue.progress(session, alice_access, run)
        assert mine.my_total == 4, f"after {status.value}"
    assert mine.my_done == 1


def test_only_errors_under_review_are_served(session: Session, team: Team) -> None:
    project, run, (alice, *_) = team
    right = make_sample(session, project, label="cat")
    make_prediction(session, run, right, label="cat")  # not an error
    stored = make_sample(session, project, label="cat")
    make_prediction(session, run, stored, label="dog", in_review=False)  # not sampled
    assert queue.next_error(session, access_of(session, alice, project), run) is None

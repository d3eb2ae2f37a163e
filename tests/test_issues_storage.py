"""Issues in the database: uniqueness per list and date, compare-and-set, history."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import ISSUE_DATE, make_issue, seed_audience

from newsletter.delivery.ledger import Ledger
from newsletter.errors import ConflictError, IssueStateError, NewsletterError
from newsletter.storage.db import transaction
from newsletter.storage.models import IssueStatus
from newsletter.storage.repositories import issues as issue_repo


def test_one_live_issue_per_list_and_date(sessions: sessionmaker[Session]) -> None:
    audience = seed_audience(sessions, 0)
    first = make_issue(sessions, audience.list_id, approve=False)
    with pytest.raises(ConflictError, match=r"'backcare' already has issue \d+ for 2025-03-04"):
        make_issue(sessions, audience.list_id, approve=False)
    # Another date is fine, and a cancelled issue frees its date.
    make_issue(sessions, audience.list_id, approve=False, issue_date=ISSUE_DATE.replace(day=11))
    with transaction(sessions) as session:
        assert issue_repo.transition(
            session, first, expected=IssueStatus.DRAFT, to=IssueStatus.CANCELLED
        )
    again = make_issue(sessions, audience.list_id, approve=False)
    assert again != first


def test_transition_is_compare_and_set(sessions: sessionmaker[Session]) -> None:
    audience = seed_audience(sessions, 0)
    issue_id = make_issue(sessions, audience.list_id, approve=False)
    with transaction(sessions) as session:
        assert issue_repo.transition(
            session, issue_id, expected=IssueStatus.DRAFT, to=IssueStatus.APPROVED
        )
        # The second attempt from the same starting state loses.
        assert not issue_repo.transition(
            session, issue_id, expected=IssueStatus.DRAFT, to=IssueStatus.APPROVED
        )
        assert issue_repo.get_issue(session, issue_id).status == IssueStatus.APPROVED


def test_two_threads_starting_the_same_send_exactly_one_wins(
    sessions: sessionmaker[Session],
) -> None:
    audience = seed_audience(sessions, 3)
    issue_id = make_issue(sessions, audience.list_id)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def start() -> None:
        ledger = Ledger(sessions, issue_id)
        barrier.wait()
        try:
            ledger.begin()
            results.append("won")
        except (ConflictError, IssueStateError) as exc:
            results.append(f"lost: {exc}")
        except NewsletterError as exc:  # a busy database is a loss too, never a double win
            results.append(f"lost: {exc}")

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.split(":")[0] for r in results) == ["lost", "won"], results
    with transaction(sessions) as session:
        issue = issue_repo.get_issue(session, issue_id)
        assert issue.status == IssueStatus.SENDING
        assert issue.lease_owner is not None


def test_delivered_history_has_only_issues_that_went_out(
    sessions: sessionmaker[Session],
) -> None:
    audience = seed_audience(sessions, 0)
    days = [dt.date(2025, 1, 7), dt.date(2025, 1, 14), dt.date(2025, 1, 21), dt.date(2025, 1, 28)]
    ids = [make_issue(sessions, audience.list_id, issue_date=d, tag=str(d)) for d in days]
    with transaction(sessions) as session:
        for issue_id, status in zip(
            ids,
            [IssueStatus.SENT, IssueStatus.FAILED, IssueStatus.APPROVED, IssueStatus.SENT],
            strict=True,
        ):
            if status != IssueStatus.APPROVED:
                assert issue_repo.transition(
                    session, issue_id, expected=IssueStatus.APPROVED, to=status
                )
        history = issue_repo.delivered_history(session, audience.list_id)
        assert [h.issue_date for h in history] == [days[0], days[1], days[3]]
        assert history[0].article_slugs == ("heat-or-ice-for-back-pain",)
        assert history[0].tip_slugs == ("tip-walk",)
        later = issue_repo.delivered_history(session, audience.list_id, exclude_date=days[3])
        assert [h.issue_date for h in later] == [days[0], days[1]]


def test_missing_issue_is_not_found(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session, pytest.raises(NewsletterError, match="issue 999"):
        issue_repo.get_issue(session, 999)

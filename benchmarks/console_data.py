"""Fill a PostgreSQL database for the console benchmark, server-side, in a few minutes.

One list of MEMBERS people (90 % subscribed, 5 % waiting to confirm, 5 % unsubscribed
over the year), ISSUES weekly issues that went out, and what their events left
behind: per-person ``delivery_outcomes`` and the maintained aggregates (totals,
events per hour, clicks per link, event counts) that the webhook processor keeps.
The newest FULL issues have a complete ledger and outcomes (one row per member);
older ones a 20,000-person ledger, to keep the build within a shared VM's minutes.
All rows are written by ``INSERT ... SELECT`` from ``generate_series``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, text

FIRST_SEND = dt.datetime(2025, 12, 2, 14, 0, tzinfo=dt.UTC)
SMALL_LEDGER = 20_000
LINKS = [f"https://riverbendclinic.example.org/articles/a{i}" for i in range(8)]


def fill(engine: Engine, *, members: int, issues: int, full: int, slugs: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO lists (slug, name, description, created_at) "
                "VALUES ('wellness', 'Wellness Weekly', '', now())"
            )
        )
        conn.execute(
            text(
                "INSERT INTO subscribers (email, email_key, first_name, attributes, created_at) "
                "SELECT 'reader' || g || '@example.org', 'reader' || g || '@example.org', "
                "'Reader', '{}', now() - interval '400 days' FROM generate_series(1, :n) g"
            ),
            {"n": members},
        )
        conn.execute(
            text(
                "INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at, "
                "consent_source, confirmed_at, unsubscribed_at, unsubscribe_source) "
                "SELECT 1, id, CASE WHEN id % 20 = 0 THEN 'unsubscribed' "
                "WHEN id % 20 = 1 THEN 'pending' ELSE 'subscribed' END, now(), now(), "
                "'import:bench.csv', now() - interval '390 days', "
                "CASE WHEN id % 20 = 0 THEN :first + ((id / 20) % :weeks) * interval '7 days' "
                "+ interval '20 hours' END, "
                "CASE WHEN id % 40 = 0 THEN 'sendgrid:bounce' WHEN id % 20 = 0 "
                "THEN 'web:one-click' END FROM subscribers"
            ),
            {"first": FIRST_SEND, "weeks": issues},
        )
    for number in range(issues):
        with engine.begin() as conn:
            _issue(conn, number, members if number >= issues - full else SMALL_LEDGER, slugs)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def _issue(conn: Connection, number: int, people: int, slugs: list[str]) -> None:
    started = FIRST_SEND + dt.timedelta(days=7 * number)
    articles = [slugs[(number * 3 + k) % len(slugs)] for k in range(3)] if slugs else []
    issue_id = conn.execute(
        text(
            "INSERT INTO issues (list_id, issue_date, status, subject, preheader, html, text, "
            "article_slugs, tip_slugs, content_hash, source, notes, created_at, updated_at, "
            "approved_at, approved_by, approved_hash, send_started_at, sent_at, snapshot_done, "
            "recipients, batch_count) VALUES (1, :day, 'sent', :subject, 'This week', "
            "'<html><body>issue</body></html>', 'issue', CAST(:articles AS json), "
            "CAST('[]' AS json), :hash, 'auto', CAST('[]' AS json), :at, :at, :at, "
            "'bench@example.org', :hash, :at, :at + interval '20 minutes', true, :people, "
            ":batches) RETURNING id"
        ),
        {
            "day": started.date(),
            "subject": f"Wellness Weekly #{number + 1}",
            "articles": str(articles).replace("'", '"'),
            "hash": f"{number:064d}",
            "at": started,
            "people": people,
            "batches": (people + 999) // 1000,
        },
    ).scalar_one()
    params = {"issue": issue_id, "people": people, "at": started}
    conn.execute(
        text(
            "INSERT INTO send_batches (issue_id, batch_no, status, recipients, skipped, "
            "attempts, message_id, updated_at) SELECT :issue, b, 'accepted', 1000, 0, 1, "
            "'msg-' || :issue || '-' || b, :at FROM generate_series(1, (:people + 999) / 1000) b"
        ),
        params,
    )
    conn.execute(
        text(
            "INSERT INTO deliveries (issue_id, subscriber_id, batch_no, email, first_name, status) "
            "SELECT :issue, id, (id - 1) / 1000 + 1, email, 'Reader', 'queued' "
            "FROM subscribers WHERE id <= :people"
        ),
        params,
    )
    # Delivered over the first hours; 30 % open, 6 % click, 1 % bounce, 0.1 % complain.
    conn.execute(
        text(
            "INSERT INTO delivery_outcomes (issue_id, email_key, email, status, status_rank, "
            "delivered_at, first_opened_at, first_clicked_at, bounced_at, complained_at, "
            "unsubscribed_at, dropped_at, opens, clicks, updated_at, prev_seen) "
            "SELECT :issue, email_key, email, "
            "CASE WHEN id % 100 = 7 THEN 'bounced' ELSE 'delivered' END, "
            "CASE WHEN id % 100 = 7 THEN 4 ELSE 2 END, "
            "CASE WHEN id % 100 <> 7 THEN :at + (id % 7200) * interval '1 second' END, "
            "CASE WHEN id % 10 < 3 THEN :at + (id % 200000) * interval '1 second' END, "
            "CASE WHEN id % 50 < 3 THEN :at + (id % 250000) * interval '1 second' END, "
            "CASE WHEN id % 100 = 7 THEN :at + interval '5 minutes' END, "
            "CASE WHEN id % 1000 = 3 THEN :at + interval '3 hours' END, NULL, NULL, "
            "CASE WHEN id % 10 < 3 THEN 1 + id % 3 ELSE 0 END, "
            "CASE WHEN id % 50 < 3 THEN 1 ELSE 0 END, :at, 0 "
            "FROM subscribers WHERE id <= :people"
        ),
        params,
    )
    conn.execute(
        text(
            "INSERT INTO issue_outcome_totals (issue_id, delivered, opened, clicked, bounced, "
            "complained, unsubscribed, dropped) SELECT :issue, count(delivered_at), "
            "count(first_opened_at), count(first_clicked_at), count(bounced_at), "
            "count(complained_at), count(unsubscribed_at), count(dropped_at) "
            "FROM delivery_outcomes WHERE issue_id = :issue"
        ),
        params,
    )
    for event, share in (
        ("delivered", 0.99),
        ("open", 0.5),
        ("click", 0.06),
        ("bounce", 0.01),
        ("spamreport", 0.001),
        ("unsubscribe", 0.002),
    ):
        total = int(people * share)
        conn.execute(
            text("INSERT INTO issue_event_counts (issue_id, event, count) VALUES (:issue, :e, :n)"),
            {"issue": issue_id, "e": event, "n": total},
        )
        conn.execute(
            text(
                "INSERT INTO issue_event_hours (issue_id, hour, event, count) "
                "SELECT :issue, :hour0 + h, :e, GREATEST(1, (:n / (h + 2))::int) "
                "FROM generate_series(0, 71) h"
            ),
            {
                "issue": issue_id,
                "hour0": int(started.timestamp()) // 3600,
                "e": event,
                "n": total // 4,
            },
        )
    for rank, url in enumerate(LINKS):
        conn.execute(
            text("INSERT INTO issue_link_clicks (issue_id, url, count) VALUES (:issue, :u, :n)"),
            {"issue": issue_id, "u": url, "n": max(1, people // (40 * (rank + 1)))},
        )

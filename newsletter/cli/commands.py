"""The command table: every command's name, the function behind it and its one-line help.

Nothing here imports a command module. ``newsletter --help`` prints this table as it
is; running a command imports its module only (see :mod:`newsletter.cli.lazy`). To add
a command, write it in a ``*_cmd.py`` module as usual (``@issue_app.command("x")`` for a
group's command, a plain function for a top-level one) and add one line here, with the
first line of its help; ``tests/test_cli_startup.py`` fails until table and code agree.
"""

from __future__ import annotations

from newsletter.cli.apps import (
    config_app,
    content_app,
    db_app,
    issue_app,
    lists_app,
    subscribers_app,
    suppressions_app,
    users_app,
)
from newsletter.cli.lazy import Command, Entry, Group

_CLI = "newsletter.cli."

COMMANDS: dict[str, Entry] = {
    "db": Group(
        db_app,
        {
            "upgrade": Command(
                _CLI + "db_cmd:upgrade", "Create the schema, or migrate it to this version's head."
            ),
            "current": Command(
                _CLI + "db_cmd:current",
                "Show the schema revision of the database and of this code.",
            ),
            "backup": Command(
                _CLI + "lifecycle_cmd:backup_",
                "Copy the SQLite database consistently while everything keeps running.",
            ),
        },
    ),
    "config": Group(
        config_app,
        {
            "show": Command(
                _CLI + "config_cmd:show", "Print the effective settings, with secrets masked."
            ),
        },
    ),
    "content": Group(
        content_app,
        {
            "check": Command(
                _CLI + "content_cmd:check",
                "Validate articles, tips and override files; exit 1 if any has a problem.",
            ),
            "import-feed": Command(
                _CLI + "feeds_cmd:import_feed",
                "Write one article file per new post of a blog feed (never overwrites a file).",
            ),
            "import-page": Command(
                _CLI + "feeds_cmd:import_page",
                "Write an article file for one web page, from its Open Graph tags and text.",
            ),
        },
    ),
    "lists": Group(
        lists_app,
        {
            "create": Command(_CLI + "lists_cmd:create", "Create a mailing list."),
            "update": Command(
                _CLI + "lists_cmd:update",
                "Change how a list's issues are timed: local-time delivery and the list's zone.",
            ),
            "show": Command(
                _CLI + "lists_cmd:show", "Show the lists with their members counted by status."
            ),
        },
    ),
    "subscribers": Group(
        subscribers_app,
        {
            "import": Command(
                _CLI + "subscribers_cmd:import_",
                "Import people into a list (all or nothing; never re-subscribes anyone).",
            ),
            "export": Command(
                _CLI + "subscribers_cmd:export",
                "Write a list's members as CSV that `subscribers import` reads back.",
            ),
            "add": Command(
                _CLI + "subscribers_cmd:add",
                "Add one person to a list (pending until confirmed, unless --confirmed).",
            ),
            "remove": Command(
                _CLI + "subscribers_cmd:remove",
                "Unsubscribe (the record is kept, so a later import cannot re-add the person).",
            ),
            "show": Command(
                _CLI + "subscribers_cmd:show",
                "Show a subscriber: memberships with status and consent, and any suppression.",
            ),
            "forget": Command(
                _CLI + "lifecycle_cmd:forget",
                "Erase a person: address, names, attributes, consent records, events "
                "(GDPR art. 17).",
            ),
        },
    ),
    "suppressions": Group(
        suppressions_app,
        {
            "add": Command(
                _CLI + "suppressions_cmd:add",
                "Suppress an address on every list (an existing suppression is kept).",
            ),
            "list": Command(
                _CLI + "suppressions_cmd:list_", "List suppressed addresses, newest first."
            ),
            "remove": Command(
                _CLI + "suppressions_cmd:remove",
                "Lift a suppression (list unsubscribes stay as they are).",
            ),
        },
    ),
    "issue": Group(
        issue_app,
        {
            "build": Command(
                _CLI + "issue_cmd:build",
                "Assemble, render and store a draft issue; prints its id.",
            ),
            "preview": Command(
                _CLI + "preview_cmd:preview",
                "Assemble and render an issue with sample values, and write HTML + text files.",
            ),
            "approve": Command(
                _CLI + "issue_cmd:approve",
                "Freeze a draft: sending will insist on exactly this content.",
            ),
            "test": Command(
                _CLI + "issue_cmd:test",
                "Send the issue to these addresses only, marked [TEST]; no ledger rows.",
            ),
            "send": Command(
                _CLI + "send_cmd:send",
                "Stage an approved issue at SendGrid for its delivery time, or resume a "
                "partial send.",
            ),
            "list": Command(_CLI + "issue_cmd:list_", "The newest issues, with their status."),
            "show": Command(
                _CLI + "issue_cmd:show",
                "One issue: its state, content, ledger counts and what the events say.",
            ),
            "queue": Command(
                _CLI + "queue_cmd:queue",
                "Queue a draft for a list and date from chosen articles and tips.",
            ),
            "cancel": Command(
                _CLI + "queue_cmd:cancel",
                "Cancel a draft or approved issue, or a staged one's batches at SendGrid.",
            ),
            "reschedule": Command(
                _CLI + "queue_cmd:reschedule",
                "Move a draft or approved issue to another date; it needs approval again.",
            ),
            "pause": Command(
                _CLI + "hold_cmd:pause",
                "Pause a staged issue's batches at SendGrid (until `issue resume`, at most 72 h).",
            ),
            "resume": Command(
                _CLI + "hold_cmd:resume",
                "Remove the pause from a staged issue's batches: SendGrid delivers them again.",
            ),
            "unknown": Command(
                _CLI + "unknown_cmd:unknown",
                "List an issue's batches of unknown outcome, with request time and message id.",
            ),
            "mark-accepted": Command(
                _CLI + "unknown_cmd:mark_accepted",
                "Record that SendGrid did accept unknown batches, so they are never resent.",
            ),
        },
    ),
    "users": Group(
        users_app,
        {
            "add": Command(
                _CLI + "users_cmd:add",
                "Add a console user; without --password-stdin, print a one-time "
                "set-password link.",
            ),
            "list": Command(
                _CLI + "users_cmd:list_",
                "Show every console user with their role and last sign-in.",
            ),
            "disable": Command(
                _CLI + "users_cmd:disable",
                "Disable an account and end its sessions at once (the record stays).",
            ),
            "set-role": Command(
                _CLI + "users_cmd:set_role",
                "Change what a person may do; they sign in again to pick it up.",
            ),
        },
    ),
    "status": Command(
        _CLI + "status_cmd:status",
        "Show the scheduler's leader, next runs, upcoming issues, sends and problems.",
    ),
    "scheduler": Command(
        _CLI + "scheduler_cmd:scheduler",
        "Run the scheduled jobs (assemble, send, resume, sync) until SIGTERM, or once.",
    ),
    "serve": Command(
        _CLI + "serve_cmd:serve",
        "Run the web app: signup form, confirm and unsubscribe links, SendGrid webhook.",
    ),
    "quickstart": Command(
        _CLI + "quickstart_cmd:quickstart",
        "Set up a demo and send this week's issue (to the outbox unless a SendGrid key is set).",
    ),
}

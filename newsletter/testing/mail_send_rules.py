"""The fake SendGrid's validation of ``POST /v3/mail/send`` bodies.

The rules and limits follow ``reference/sendgrid/tsg_mail_v3.yaml`` (personalizations,
recipients, content order, reserved headers, custom_args and substitution sizes). Errors
use SendGrid's shape, ``{"errors": [{"message", "field", "help"}]}``, with ``field`` as a
dotted path such as ``personalizations.3.to.0.email``.

A million recipients go through this in the ledger benchmark, so a well-formed body is
first checked in bulk by ``mail_send_fast``; the slow per-personalization walk below runs
only when that says no, to name every problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.testing.mail_send_fast import fast_recipients
from newsletter.testing.mail_send_limits import (
    EMAIL,
    MAX_CATEGORIES,
    MAX_CATEGORY_LENGTH,
    MAX_CUSTOM_ARGS_BYTES,
    MAX_PERSONALIZATIONS,
    MAX_RECIPIENTS,
    MAX_SUBSTITUTIONS,
    MAX_SUBSTITUTIONS_BYTES,
    RESERVED_HEADERS,
    size_of,
)

HELP_BASE = "https://docs.sendgrid.com/api-reference/mail-send/errors#"


@dataclass(frozen=True)
class ApiError:
    """One entry of SendGrid's ``errors`` array."""

    message: str
    field: str | None
    help: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"message": self.message, "field": self.field, "help": self.help}


@dataclass(frozen=True)
class MailSendSummary:
    """What an accepted request addressed."""

    recipients: list[str]
    """Every ``to`` address, in order (cc and bcc are counted but not listed)."""
    custom_args: dict[str, Any]
    personalizations: int


class MailSendInvalid(Exception):
    """The body breaks one or more rules; ``errors`` lists them all."""

    def __init__(self, errors: list[ApiError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def is_email(value: object) -> bool:
    return type(value) is str and EMAIL.fullmatch(value) is not None


def _err(errors: list[ApiError], message: str, field: str | None, anchor: str) -> None:
    errors.append(ApiError(message, field, HELP_BASE + anchor))


def validate_mail_send(body: Any, *, fast: bool = True) -> MailSendSummary:
    """Check ``body`` (decoded JSON) like SendGrid would; raise ``MailSendInvalid``.

    ``fast=False`` skips the bulk check, so tests can compare it with the detailed walk.
    """
    errors: list[ApiError] = []
    if type(body) is not dict:
        raise MailSendInvalid([ApiError("The request body must be a JSON object.", None)])
    custom_args = _check_message(body, errors)
    if fast and not errors:
        quick = fast_recipients(body, size_of(custom_args) if custom_args else 0)
        if quick is not None:
            return MailSendSummary(quick, custom_args, len(body["personalizations"]))
    recipients = _check_personalizations(body, custom_args, errors)
    if errors:
        raise MailSendInvalid(errors)
    return MailSendSummary(recipients, custom_args, len(body["personalizations"]))


def _check_message(body: dict[str, Any], errors: list[ApiError]) -> dict[str, Any]:
    sender = body.get("from")
    if type(sender) is not dict or not is_email(sender.get("email")):
        _err(errors, "The from object must contain a valid email address.", "from.email", "from")
    reply_to = body.get("reply_to")
    if reply_to is not None and (type(reply_to) is not dict or not is_email(reply_to.get("email"))):
        _err(errors, "The reply_to email is not a valid address.", "reply_to.email", "reply_to")
    if reply_to is not None and body.get("reply_to_list") is not None:
        _err(errors, "Use reply_to or reply_to_list, not both.", "reply_to_list", "reply_to")
    templated = bool(body.get("template_id"))
    subject = body.get("subject")
    if subject is not None and (type(subject) is not str or not subject):
        _err(errors, "The subject must be a non-empty string.", "subject", "subject")
    if not templated:
        _check_content(body.get("content"), errors)
    _check_categories(body.get("categories"), errors)
    _check_headers(body.get("headers"), "headers", errors)
    custom_args = body.get("custom_args")
    if custom_args is None:
        return {}
    if type(custom_args) is not dict or any(type(v) is not str for v in custom_args.values()):
        _err(errors, "custom_args must be an object of strings.", "custom_args", "custom_args")
        return {}
    size = size_of(custom_args)
    if size > MAX_CUSTOM_ARGS_BYTES:
        _err(
            errors,
            f"custom_args total {size} bytes; the limit is {MAX_CUSTOM_ARGS_BYTES}.",
            "custom_args",
            "custom_args",
        )
        return {}
    return custom_args


def _check_content(content: Any, errors: list[ApiError]) -> None:
    if type(content) is not list or not content:
        _err(
            errors,
            "The content parameter is required unless a template_id is given: "
            "include at least one content block.",
            "content",
            "content",
        )
        return
    types: list[str] = []
    for i, block in enumerate(content):
        kind = block.get("type") if type(block) is dict else None
        value = block.get("value") if type(block) is dict else None
        if type(kind) is not str or not kind:
            _err(errors, "Each content block needs a type.", f"content.{i}.type", "content")
        elif type(value) is not str or not value:
            _err(
                errors, "Content values must be non-empty strings.", f"content.{i}.value", "content"
            )
        else:
            types.append(kind)
    if len(set(types)) != len(types):
        _err(errors, "Each content type may be given only once.", "content", "content")
    if "text/plain" in types and types[0] != "text/plain":
        _err(errors, "text/plain content must come first, then text/html.", "content", "content")
    if "text/html" in types and types.index("text/html") != (1 if "text/plain" in types else 0):
        _err(errors, "text/html content must directly follow text/plain.", "content", "content")


def _check_categories(categories: Any, errors: list[ApiError]) -> None:
    if categories is None:
        return
    if type(categories) is not list or len(categories) > MAX_CATEGORIES:
        _err(
            errors,
            f"categories must be a list of at most {MAX_CATEGORIES}.",
            "categories",
            "categories",
        )
        return
    if len(set(map(str, categories))) != len(categories):
        _err(errors, "categories must be unique.", "categories", "categories")
    for i, category in enumerate(categories):
        if type(category) is not str or not 0 < len(category) <= MAX_CATEGORY_LENGTH:
            _err(
                errors,
                f"A category must be 1-{MAX_CATEGORY_LENGTH} characters.",
                f"categories.{i}",
                "categories",
            )


def _check_headers(headers: Any, field: str, errors: list[ApiError]) -> None:
    if headers is None:
        return
    if type(headers) is not dict:
        _err(errors, "headers must be an object of strings.", field, "headers")
        return
    for name, value in headers.items():
        if name.lower() in RESERVED_HEADERS:
            _err(
                errors,
                f"The header {name!r} is reserved and cannot be set.",
                f"{field}.{name}",
                "headers",
            )
        elif type(value) is not str:
            _err(errors, "Header values must be strings.", f"{field}.{name}", "headers")


def _check_personalizations(
    body: dict[str, Any], message_args: dict[str, Any], errors: list[ApiError]
) -> list[str]:
    personalizations = body.get("personalizations")
    if type(personalizations) is not list or not personalizations:
        _err(
            errors,
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
            "personalizations",
        )
        return []
    if len(personalizations) > MAX_PERSONALIZATIONS:
        _err(
            errors,
            f"The personalizations field has {len(personalizations)} personalizations; "
            f"the limit is {MAX_PERSONALIZATIONS}.",
            "personalizations",
            "personalizations",
        )
        return []
    need_subject = not body.get("subject") and not body.get("template_id")
    message_args_size = size_of(message_args) if message_args else 0
    recipients: list[str] = []
    total = 0
    for i, p in enumerate(personalizations):
        if type(p) is not dict:
            _err(
                errors,
                "A personalization must be an object.",
                f"personalizations.{i}",
                "personalizations",
            )
            continue
        to = p.get("to")
        if type(to) is not list or not to:
            _err(
                errors,
                "Each personalization needs a to list with at least one address.",
                f"personalizations.{i}.to",
                "personalizations.to",
            )
            continue
        for j, address in enumerate(to):
            email = address.get("email") if type(address) is dict else None
            if type(email) is not str or EMAIL.fullmatch(email) is None:
                _err(
                    errors,
                    "Does not contain a valid address.",
                    f"personalizations.{i}.to.{j}.email",
                    "personalizations.to",
                )
            else:
                recipients.append(email)
        total += len(to) + len(p.get("cc") or ()) + len(p.get("bcc") or ())
        if "cc" in p or "bcc" in p:
            _check_unique(p, i, errors)
        subs = p.get("substitutions")
        if subs is not None:
            _check_substitutions(subs, i, errors)
        headers = p.get("headers")
        if headers is not None:
            _check_headers(headers, f"personalizations.{i}.headers", errors)
        args = p.get("custom_args")
        if args is not None:
            _check_custom_args(args, message_args_size, i, errors)
        if need_subject and not p.get("subject"):
            _err(
                errors,
                "The subject is required, at message level or in every personalization.",
                "subject",
                "subject",
            )
            need_subject = False
    if total > MAX_RECIPIENTS:
        _err(
            errors,
            f"The request has {total} recipients (to, cc and bcc); the limit is {MAX_RECIPIENTS}.",
            "personalizations",
            "personalizations",
        )
    return recipients


def _check_unique(p: dict[str, Any], i: int, errors: list[ApiError]) -> None:
    seen: set[str] = set()
    for kind in ("to", "cc", "bcc"):
        for address in p.get(kind) or ():
            email = str(address.get("email", "")).lower() if type(address) is dict else ""
            if email in seen:
                _err(
                    errors,
                    "Each address must be unique across to, cc and bcc.",
                    f"personalizations.{i}.{kind}",
                    "personalizations",
                )
                return
            seen.add(email)


def _check_substitutions(subs: Any, i: int, errors: list[ApiError]) -> None:
    field = f"personalizations.{i}.substitutions"
    if type(subs) is not dict:
        _err(errors, "substitutions must be an object of strings.", field, "substitutions")
    elif len(subs) > MAX_SUBSTITUTIONS:
        _err(errors, f"Too many substitutions (limit {MAX_SUBSTITUTIONS}).", field, "substitutions")
    elif any(type(v) is not str for v in subs.values()):
        _err(errors, "Substitution values must be strings.", field, "substitutions")
    elif size_of(subs) > MAX_SUBSTITUTIONS_BYTES:
        _err(
            errors,
            f"Substitutions exceed {MAX_SUBSTITUTIONS_BYTES} bytes in one personalization.",
            field,
            "substitutions",
        )


def _check_custom_args(args: Any, message_size: int, i: int, errors: list[ApiError]) -> None:
    field = f"personalizations.{i}.custom_args"
    if type(args) is not dict:
        _err(errors, "custom_args must be an object of strings.", field, "custom_args")
        return
    # The limit covers the message-level and personalization-level arguments together.
    size = message_size + size_of(args)
    if size > MAX_CUSTOM_ARGS_BYTES:
        _err(
            errors,
            f"custom_args total {size} bytes; the limit is {MAX_CUSTOM_ARGS_BYTES}.",
            field,
            "custom_args",
        )

"""``/admin/users``: admins add people, change roles and disable accounts.

The same service as ``newsletter users add|set-role|disable``; a new person gets a
one-time set-password link to pass on (it is shown once, here).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.errors import AddressError, ConflictError, NotFoundError
from newsletter.services import users
from newsletter.storage.models import UserRole
from newsletter.web.console.auth import Admin
from newsletter.web.console.pages import render
from newsletter.web.state import get_state

router = APIRouter(prefix="/admin/users", include_in_schema=False)

DONE = {
    "role": "Role changed; they sign in again to pick it up.",
    "disabled": "Account disabled; its sessions have ended.",
}


def _page(
    request: Request,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    link: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "users.html",
        status_code=status_code,
        title="Users",
        people=users.list_users(get_state(request).sessions),
        roles=list(UserRole),
        errors=errors or {},
        form=form or {"email": "", "name": "", "role": "editor"},
        link=link,
        notice=notice,
    )


@router.get("", response_class=HTMLResponse)
def users_page(request: Request, actor: Admin, done: str = "") -> HTMLResponse:
    return _page(request, notice=DONE.get(done))


def _role(value: str) -> UserRole | None:
    try:
        return UserRole(value)
    except ValueError:
        return None


@router.post("", response_class=HTMLResponse)
async def add_user(
    request: Request,
    actor: Admin,
    email: Annotated[str, Form(max_length=320)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    state = get_state(request)
    form = {"email": email, "name": name, "role": role}
    chosen = _role(role)
    if chosen is None:
        return _page(request, status_code=400, errors={"role": "choose a role"}, form=form)
    try:
        user = await run_in_threadpool(
            users.add_user, state.sessions, email, chosen, name=name, actor=actor.email
        )
    except (AddressError, ConflictError) as exc:
        return _page(request, status_code=400, errors={"email": str(exc)}, form=form)
    link = users.setup_url(state.settings, user)
    return _page(request, link=link, notice=f"Added {user.email} as {user.role}.")


@router.post("/role", response_class=HTMLResponse)
async def set_role(
    request: Request,
    actor: Admin,
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    chosen = _role(role)
    if chosen is None:
        return _page(request, status_code=400, notice=None, errors={"list": "choose a role"})
    try:
        await run_in_threadpool(
            users.set_role, get_state(request).sessions, email, chosen, actor=actor.email
        )
    except (ConflictError, NotFoundError, AddressError) as exc:
        return _page(request, status_code=409, errors={"list": str(exc)})
    return RedirectResponse("/admin/users?done=role", status_code=303)


@router.post("/disable", response_class=HTMLResponse)
async def disable(
    request: Request, actor: Admin, email: Annotated[str, Form(max_length=320)] = ""
) -> Response:
    try:
        await run_in_threadpool(
            users.disable_user, get_state(request).sessions, email, actor=actor.email
        )
    except (ConflictError, NotFoundError, AddressError) as exc:
        return _page(request, status_code=409, errors={"list": str(exc)})
    return RedirectResponse("/admin/users?done=disabled", status_code=303)

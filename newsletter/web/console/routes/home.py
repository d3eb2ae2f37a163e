"""``/admin``, the console's home, and ``/``, which sends people where they belong."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from newsletter.services.calendar import home_calendar
from newsletter.web.console import sessions
from newsletter.web.console.auth import Editor
from newsletter.web.console.pages import render
from newsletter.web.state import get_state

router = APIRouter(include_in_schema=False)


@router.get("/")
def root(request: Request) -> RedirectResponse:
    """Someone with a console session goes to the console; everyone else to the signup."""
    session = sessions.read(request)
    signed_in = session is not None and session.user_id is not None
    return RedirectResponse("/admin" if signed_in else "/signup", status_code=303)


@router.get("/admin", response_class=HTMLResponse)
def home(request: Request, actor: Editor) -> HTMLResponse:
    state = get_state(request)
    calendar = home_calendar(state.settings, state.engine)
    return render(request, "home.html", title="Home", calendar=calendar)

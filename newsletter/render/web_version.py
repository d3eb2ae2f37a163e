"""The public web version of a sent issue: the stored HTML with every personal part removed.

The stored snapshot still holds the substitution tags SendGrid filled per recipient.
On the web nobody is the recipient, so the greeting gets the fallback name, the
unsubscribe line (whose link would carry a person's token) becomes an invitation to
sign up, and the "View in your browser" line, which would point at the page itself,
goes. Any tag left anywhere else is replaced too, so no tag and no token can show.
"""

from __future__ import annotations

import html as html_lib

import lxml.html

from newsletter.render.model import (
    FIRST_NAME_FALLBACK,
    FIRST_NAME_HTML_TAG,
    FIRST_NAME_TAG,
    UNSUBSCRIBE_URL_TAG,
)

WEB_LINK_CLASS = "nl-web-link"
SIGNUP_CLASS = "nl-signup"


def public_copy(stored_html: str, *, list_name: str, signup_url: str) -> str:
    """``stored_html`` as anyone may see it, with a sign-up link where "Unsubscribe" was."""
    name = html_lib.escape(FIRST_NAME_FALLBACK)
    filled = stored_html.replace(FIRST_NAME_HTML_TAG, name).replace(FIRST_NAME_TAG, name)
    root = lxml.html.document_fromstring(filled)
    for cell in root.find_class(WEB_LINK_CLASS):
        _section_of(cell).drop_tree()
    for link in root.xpath("//a[@href=$tag]", tag=UNSUBSCRIBE_URL_TAG):
        block = _text_block(link)
        style, kept_style, tail = link.get("style", ""), block.get("style"), block.tail
        block.clear()  # drops attributes and tail too: put back what the layout needs
        block.tail = tail
        if kept_style:
            block.set("style", kept_style)
        block.set("class", SIGNUP_CLASS)
        block.text = f"Enjoyed this? Get {list_name} in your inbox every week: "
        invite = lxml.html.Element("a", href=signup_url, style=style)
        invite.text = "Sign up"
        block.append(invite)
    page: str = lxml.html.tostring(root, doctype="<!doctype html>", encoding="unicode")
    return page.replace(UNSUBSCRIBE_URL_TAG, html_lib.escape(signup_url))


def _section_of(cell: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    # An mj-section is the outermost <div> with a max-width; dropping it drops its band.
    outer = cell
    for ancestor in cell.iterancestors("div"):
        if "max-width" in ancestor.get("style", ""):
            outer = ancestor
    return outer


def _text_block(link: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    # mj-text renders as <td><div style=…>text</div></td>: the div is the whole line.
    for ancestor in link.iterancestors():
        if ancestor.tag in ("div", "p", "td"):
            return ancestor
    return link

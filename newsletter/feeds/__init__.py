"""Reading the clinic's blog: fetch a feed or page, and turn its posts into article drafts.

``fetch`` is the only network code here; ``posts`` (feeds) and ``page`` (one web page)
are pure functions of the bytes fetched, and ``text`` holds the HTML-to-summary rules
both share. Writing the drafts into ``content/`` is the services layer's job.
"""

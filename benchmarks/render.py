"""Render benchmark: assemble + render (with checks) against a bare MJML compile.

    python benchmarks/render.py [--iterations 200] [--strict]

Uses the real content library when it loads (else the built-in sample plan), times the
full pipeline and, interleaved in the same run, ``mjml.mjml2html`` on the same markup:
the floor no template layer can beat. Budget: a median of 5 ms for the pipeline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mjml

from newsletter.assembly import ContentHistory, IssuePlan, assemble
from newsletter.content.loader import load_library
from newsletter.content.models import Library
from newsletter.errors import NewsletterError
from newsletter.render import RenderContext, render_issue
from newsletter.render.compile import render_template
from newsletter.render.renderer import ISSUE_TEMPLATE, issue_values
from newsletter.render.sample import sample_plan
from newsletter.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 5.0
WARMUP = 10


def _issue_date(library: Library) -> dt.date:
    # The newest article's date always has live content, whatever today is.
    return max(article.published for article in library.articles.values())


def _pipeline() -> tuple[str, Callable[[], IssuePlan], RenderContext]:
    cfg = load_settings(content_dir=REPO_ROOT / "content", templates_dir=REPO_ROOT / "templates")
    ctx = RenderContext.from_settings(cfg, "Wellness")
    try:
        library = load_library(cfg.content_dir)
        when = _issue_date(library)
        assemble(library, "wellness", when, ContentHistory())
    except (NewsletterError, ValueError) as exc:
        print(f"content library not usable ({exc}); using the synthetic sample plan")
        plan = sample_plan()
        return "synthetic sample plan", lambda: plan, ctx

    def plan_now() -> IssuePlan:
        return assemble(
            library,
            "wellness",
            when,
            ContentHistory(),
            articles_per_issue=cfg.articles_per_issue,
            tips_per_issue=cfg.tips_per_issue,
        )

    source = f"content library ({len(library.articles)} articles, {len(library.tips)} tips)"
    return f"{source}, issue of {when}", plan_now, ctx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--strict", action="store_true", help="exit 1 when over budget")
    args = parser.parse_args()

    source, plan_now, ctx = _pipeline()
    plan = plan_now()
    markup = render_template(
        ctx.templates_dir, f"{ISSUE_TEMPLATE}.mjml.j2", issue_values(plan, ctx)
    )
    html_size = len(render_issue(plan, ctx).html.encode("utf-8"))

    full: list[float] = []
    bare: list[float] = []
    for i in range(WARMUP + args.iterations):
        # Interleaved, so a noisy neighbour slows both series alike.
        start = time.perf_counter()
        render_issue(plan_now(), ctx)
        middle = time.perf_counter()
        mjml.mjml2html(markup, disable_comments=True)
        end = time.perf_counter()
        if i >= WARMUP:
            full.append((middle - start) * 1000)
            bare.append((end - middle) * 1000)

    full_median = statistics.median(full)
    bare_median = statistics.median(bare)
    p95 = statistics.quantiles(full, n=20)[-1]
    verdict = "OK" if full_median <= BUDGET_MS else "OVER BUDGET"
    print(f"source:                      {source}")
    print(f"iterations:                  {args.iterations} (+{WARMUP} warm-up)")
    print(f"HTML size:                   {html_size:,} bytes")
    print(f"assemble+render+checks:      median {full_median:.3f} ms, p95 {p95:.3f} ms")
    print(f"bare mjml2html (same MJML):  median {bare_median:.3f} ms")
    print(f"ratio pipeline / bare:       {full_median / bare_median:.1f}x")
    print(f"budget:                      median <= {BUDGET_MS:.1f} ms -> {verdict}")
    return 1 if args.strict and verdict != "OK" else 0


if __name__ == "__main__":
    sys.exit(main())

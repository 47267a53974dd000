"""Pages of a list, with a total that stays cheap on a county's 100,000 rows.

Counting every row a list could show costs as much as reading them all: a county
user's household list would count 100,000 rows on every page view to print
"共 100000 条". ``paginate`` counts at most ``COUNT_CAP`` rows beyond the start of
the current page; past that the page says "超过 N 条" and still offers the next page.
Exact totals per grid are on the grid pages.
"""
import sqlalchemy as sa
from flask import current_app, request
from sqlalchemy.orm import lazyload

from ..extensions import db
from .inputs import page_number


def paginate(select, per_page=None):
    """One page of ``select`` (flask-sqlalchemy's pagination) with a capped total.

    ``page.total`` is exact up to the cap; ``page.total_capped`` says the list is longer.
    """
    page = db.paginate(select, page=page_number(request.args.get("page")),
                       per_page=per_page or current_app.config["PAGE_SIZE"], error_out=False, count=False)
    limit = (page.page - 1) * page.per_page + current_app.config["COUNT_CAP"]
    rows = (select.options(lazyload("*")).with_only_columns(sa.literal_column("1"), maintain_column_froms=True)
            .order_by(None).limit(limit + 1).subquery())
    total = db.session.execute(sa.select(sa.func.count()).select_from(rows)).scalar()
    # Past the cap ``total`` is limit + 1: one more page than the counted rows fill, so
    # "下一页" stays on offer; ``counted`` is what the page may state as a number.
    page.total = total
    page.total_capped = total > limit
    page.counted = min(total, limit)
    return page


class RowsPage:
    """One page of a list already worked out in Python (the same attributes the pager reads)."""

    def __init__(self, rows, page, per_page):
        self.per_page = per_page
        self.total = self.counted = len(rows)
        self.total_capped = False
        self.pages = -(-self.total // per_page)
        self.page = min(max(page, 1), max(self.pages, 1))
        start = (self.page - 1) * per_page
        self.items = rows[start:start + per_page]
        self.has_prev, self.has_next = self.page > 1, self.page < self.pages
        self.prev_num = self.page - 1 if self.has_prev else None
        self.next_num = self.page + 1 if self.has_next else None


def paginate_rows(rows, per_page=None):
    """The request's page (``?page=``) of a computed list."""
    return RowsPage(rows, page_number(request.args.get("page")), per_page or current_app.config["PAGE_SIZE"])

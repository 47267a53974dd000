"""The benchmark's server: the real app plus one bare route, served by waitress as `flask serve` serves it.

The bare route renders 50 rows of the same household table with no login, no
layout and no scoping: the baseline the real list page is compared with.
"""
import logging
import os
import sys

from flask import render_template_string
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from app import create_app
from app.core import serving
from app.extensions import db
from app.households.models import Household

BARE = """<table>{% for h in rows %}<tr><td>{{ h.address }}</td><td>{{ h.head.name if h.head else '' }}</td>
<td>{{ h.grid.name }}</td></tr>{% endfor %}</table>"""


def bare():
    rows = db.session.scalars(select(Household).options(joinedload(Household.head), joinedload(Household.grid))
                              .order_by(Household.grid_id, Household.address, Household.id).limit(50)).all()
    return render_template_string(BARE, rows=rows)


bare.is_public = True
# The search figures read each response's server time (Server-Timing), which only this switch
# sends to a user who is not an administrator.
app = create_app({"CHECK_PRINT_STACK": False, "SERVER_TIMING": True})
app.add_url_rule("/_bench/bare", "bench_bare", bare)
app.logger.setLevel(logging.INFO)  # the warm-up's line tells the dashboard figures when it is done

if __name__ == "__main__":
    serving.serve(app, "127.0.0.1", int(sys.argv[1]))  # sized as `flask serve`
    os._exit(0)

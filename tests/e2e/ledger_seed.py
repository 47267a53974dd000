"""Households for the browser tests of the ledger (the demo has grids and accounts but no households).

Run as ``python -m tests.e2e.ledger_seed`` from the project folder with the server's
DATABASE_URL and VG_INSTANCE_PATH: it registers the households below through the
ledger service (so the search postings, events and audit rows are the real ones),
commits, and prints them as JSON ({address: {"id", "head", "head_id_number", "grid"}}).

The names share characters on purpose (张三, 张三丰, 张三妹; 单 read as a surname),
and one household lies in another village, outside worker1's and village1's scope.
"""
import json

from stdnum.cn import ric

ACTOR = "浏览器测试数据"


def id_number(birth, seq):
    """A valid 18-digit ID number of 长兴县 (330522) for a birth date YYYYMMDD and a 3-digit sequence."""
    body = f"330522{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def masked(number):
    """How the app shows an ID number: first 6, eight stars, last 4."""
    return number[:6] + "*" * 8 + number[-4:]


# (address, head, birth date, sequence): in worker1's house cluster (village1, 水口村委会) ...
WORKER1_HOUSEHOLDS = [
    ("和平路1号", "张三", "19620314", 11),
    ("和平路2号", "张三丰", "19580826", 13),
    ("和平路3号", "单雄信", "19750102", 15),
    ("和平路4号", "李四", "19800717", 17),
    ("和平路5号", "王五", "19911120", 22),
]
# ... and in worker2's (village2, 顾渚村委会): nobody of village1 may find it.
WORKER2_HOUSEHOLDS = [
    ("东山路1号", "张三妹", "19690930", 24),
]


def main():
    from sqlalchemy import select

    from app import create_app
    from app.accounts.models import User
    from app.core import audit
    from app.extensions import db
    from app.households import service

    out = {}
    with create_app().app_context(), audit.acting_as(ACTOR):
        for username, rows in (("worker1", WORKER1_HOUSEHOLDS), ("worker2", WORKER2_HOUSEHOLDS)):
            user = db.session.scalar(select(User).where(User.username == username))
            # The demo binds the worker to one house cluster; other browser tests may add a village.
            grid = next(g for g in sorted(user.grids, key=lambda g: -g.depth) if not g.children.count())
            for address, head, birth, seq in rows:
                number = id_number(birth, seq)
                h = service.create_household(user, grid, address, service.ResidentData(name=head, id_number=number))
                out[address] = {"id": h.id, "head": head, "head_id_number": number, "grid": grid.name,
                                "owner": username}
        db.session.commit()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()

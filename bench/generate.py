"""Synthetic ledger for the benchmark: realistic names, addresses and valid ID numbers.

Run inside an app context. Writes with bulk inserts (the services would take
minutes for 100,000 households); the rows are what the services would write:
the same normalised fields, pinyin initials and search postings.
"""
import random
from datetime import date, timedelta
from types import SimpleNamespace

from sqlalchemy import bindparam, insert, select
from stdnum.cn import ric

from app.demo import random_mobile
from app.extensions import db
from app.grids.models import Grid
from app.households.models import Household, Resident, SearchGram
from app.households.names import name_initials
from app.households.search import gram_rows

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单区欧阳")
GIVEN = ("建国伟芳秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉红梅金凤志海燕春生文斌永康福根水林"
         "德荣宝珍小雨晨思佳怡浩宇轩子涵梓欣然博文一鸣天佑嘉琪俊杰雅婷晓东红英建华淑珍")
RELATIONS = ["配偶", "子", "女", "儿媳", "孙子", "孙女", "母亲", "父亲"]
ROADS = ["村道", "新村", "老街", "桥头", "山脚", "塘边", "竹园", "后山", "前洋", "溪口"]


def person_name(rng):
    surname = rng.choice(SURNAMES)
    if surname in "欧阳" and rng.random() < 0.5:
        surname = "欧阳"
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # ID check digit weights (GB 11643)


def check_digit(body):
    """The 18th character of an ID number whose first 17 are ``body``."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


def id_number(rng, birth, serial, male):
    seq = f"{serial % 100:02d}{(rng.randrange(0, 10, 2) + (1 if male else 0)) % 10}"
    body = f"330522{birth:%Y%m%d}{seq}"
    return body + check_digit(body)


# Household sizes of a rural county (2.8 people a household on average, as 长兴县's census has it).
SIZES = (1, 2, 2, 3, 3, 3, 3, 4, 4, 3)


def generate(households=250_000, per_household=None, seed=7):
    """Spread households over the lowest-level grids; returns (households, residents) written.

    Rows go in as plain executemany inserts (no ORM objects): names' pinyin initials are worked
    out once per distinct name, birth dates once per day, search postings as tuples.
    """
    rng = random.Random(seed)
    child = db.aliased(Grid)
    leaves = db.session.execute(select(Grid.id, Grid.name).where(
        ~select(child.id).where(child.parent_id == Grid.id).exists()).order_by(Grid.id)).all()
    used = set()
    hh_id = (db.session.scalar(select(db.func.max(Household.id))) or 0)
    res_id = (db.session.scalar(select(db.func.max(Resident.id))) or 0)
    initials_of, births = {}, {}
    first_birth = date(1935, 1, 1)
    h_table, r_table, g_table = Household.__table__, Resident.__table__, SearchGram.__table__
    set_head = h_table.update().where(h_table.c.id == bindparam("hid")).values(head_id=bindparam("head"))
    batch_h, batch_r, batch_g, heads = [], [], [], []
    written_r = 0
    for i in range(households):
        grid_id, grid_name = leaves[i % len(leaves)]
        hh_id += 1
        size = per_household or rng.choice(SIZES)
        members = []
        for m in range(size):
            while True:
                offset = rng.randrange(0, 365 * 85)
                birth = births.get(offset)
                if birth is None:
                    day = first_birth + timedelta(days=offset)
                    birth = births[offset] = (day, f"330522{day:%Y%m%d}")
                body = f"{birth[1]}{rng.randrange(100):02d}{(rng.randrange(0, 10, 2) + (rng.random() < 0.5)) % 10}"
                if body not in used:
                    used.add(body)
                    break
            number = body + check_digit(body)
            res_id += 1
            name = person_name(rng)
            initials = initials_of.get(name)
            if initials is None:
                initials = initials_of[name] = name_initials(name)
            phone = random_mobile(rng) if m == 0 or rng.random() < 0.3 else ""
            if m == 0:
                head_phone = phone
                heads.append({"hid": hh_id, "head": res_id})
            batch_r.append(dict(id=res_id, household_id=hh_id, grid_id=grid_id, name=name, id_number=number,
                                id_number_rev=number[::-1], sex="男" if int(number[16]) % 2 else "女",
                                birth_date=birth[0], phone=phone, phone_rev=phone[::-1],
                                relation="户主" if m == 0 else rng.choice(RELATIONS),
                                political_status="中共党员" if rng.random() < 0.08 else "群众", flags="",
                                status="active", status_note="", name_initials=initials[0],
                                name_initials_alt=initials[1]))
            members.append(SimpleNamespace(id=res_id, name=name))
        written_r += size
        address = f"{grid_name}{rng.choice(ROADS)}{rng.randrange(1, 300)}号"
        batch_h.append(dict(id=hh_id, grid_id=grid_id, address=address, head_id=None, phone=head_phone,
                            phone_rev=head_phone[::-1], notes="", status="active"))
        batch_g.extend(gram_rows(SimpleNamespace(id=hh_id, grid_id=grid_id, address=address), members))
        if len(batch_h) >= 5000 or i == households - 1:
            db.session.execute(insert(h_table), batch_h)
            db.session.execute(insert(r_table), batch_r)
            db.session.execute(insert(g_table), batch_g)
            db.session.execute(set_head, heads)
            db.session.commit()
            batch_h, batch_r, batch_g, heads = [], [], [], []
    return households, written_r


def roster_workbook(rows=10_000, seed=11):
    """An Excel roster of new households (3 people each) for the villages of 水口乡, as a village would type it."""
    from openpyxl import Workbook

    from app.households.roster_template import COLUMNS, SHEET

    rng = random.Random(seed)
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append([header for _, header, _ in COLUMNS])
    villages = ["水口村委会", "顾渚村委会", "徐旺村委会"]
    serial = 0
    used = set()
    while ws.max_row - 1 < rows:
        v, n, c = rng.choice(villages), rng.randrange(1, 11), rng.randrange(1, 4)
        grid = f"{v}/第{n}自然村/第{n}-{c}组"
        address = f"{v[:-3]}新村{ws.max_row}号"
        head_id = None
        for m in range(min(3, rows - (ws.max_row - 1))):
            serial += 1
            birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
            while True:
                body = f"330521{birth:%Y%m%d}{serial % 1000:03d}"
                number = body + ric.calc_check_digit(body + "0")
                if number not in used:
                    used.add(number)
                    break
                birth += timedelta(days=1)
            head_id = head_id or number
            row = {"grid": grid, "address": address, "head_id": head_id, "name": person_name(rng), "id_number": number,
                   "relation": "户主" if m == 0 else rng.choice(RELATIONS),
                   "phone": random_mobile(rng) if m == 0 else "",
                   "political_status": "群众", "flags": "", "categories": "空巢老人户" if rng.random() < 0.05 and m == 0 else ""}
            ws.append([row[key] for key, _, _ in COLUMNS])
    return wb


def village_layout_workbook(rows=10_000, seed=13, village="水口村委会"):
    """A village's own roster of new households: a title row, a two-row header (成员信息 over 姓名 …
    身份证号码), the head's name only on the head's row with the members under it, a blank row between
    households, 所属组 by name, and ID numbers as text, in full-width digits, with a lowercase x,
    with spaces and with an invisible character, as real files have them."""
    from openpyxl import Workbook

    rng = random.Random(seed)
    wb = Workbook()
    ws = wb.active
    ws.append([f"{village[:-3]}户籍花名册"])
    ws.merge_cells("A1:J1")
    ws.append(["序号", "户主", "成员信息", None, None, None, None, "所属组", "家庭住址", "联系电话"])
    ws.merge_cells("C2:G2")
    ws.append([None, None, "姓名", "与户主关系", "性别", "出生日期", "身份证号码", None, None, None])
    quirks = [lambda n: n, lambda n: n, lambda n: "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in n),
              lambda n: n.lower(), lambda n: f" {n[:6]} {n[6:14]} {n[14:]} ", lambda n: "\u200b" + n]
    serial, people, used = 0, 0, set()
    while people < rows:
        n, c = rng.randrange(1, 11), rng.randrange(1, 4)
        group, address = f"第{n}-{c}组", f"{village[:-3]}{n}组{people}号"
        if people:
            ws.append([])
        for m in range(min(rng.choice((1, 2, 3, 3, 4, 5)), rows - people)):
            serial += 1
            male = rng.random() < 0.5
            birth = date(1935, 1, 1) + timedelta(days=rng.randrange(0, 365 * 85))
            while True:  # another county's code than the generated ledger's, so no number is taken
                body = f"330523{birth:%Y%m%d}{serial % 100:02d}{(rng.randrange(0, 10, 2) + male) % 10}"
                number = body + ric.calc_check_digit(body + "0")
                if number not in used:
                    used.add(number)
                    break
                serial += 1
            name = person_name(rng)
            people += 1
            head = m == 0
            ws.append([people, name if head else None, name, "户主" if head else rng.choice(RELATIONS),
                       "男" if male else "女", birth, rng.choice(quirks)(number), group if head else None,
                       address if head else None, random_mobile(rng) if head else None])
    return wb


def add_grids_below_villages(natural=10, clusters=3):
    """10 natural villages x 3 house clusters under every village, written in bulk."""
    from app.grids import service as gs

    nv, cl, kind = gs.level_by_key("natural_village"), gs.level_by_key("cluster"), gs.kind_by_key("general")
    villages = db.session.scalars(select(Grid).where(Grid.level_id == gs.level_by_key("village").id).order_by(Grid.id)).all()
    next_id = (db.session.scalar(select(db.func.max(Grid.id))) or 0) + 1
    rows = []
    for v in villages:
        for i in range(natural):
            nid, next_id = next_id, next_id + 1
            npath = f"{v.path}{nid}/"
            rows.append(dict(id=nid, parent_id=v.id, path=npath, depth=v.depth + 1, name=f"第{i + 1}自然村",
                             level_id=nv.id, kind_id=kind.id, area_desc="", sort_order=0))
            for j in range(clusters):
                cid, next_id = next_id, next_id + 1
                rows.append(dict(id=cid, parent_id=nid, path=f"{npath}{cid}/", depth=v.depth + 2,
                                 name=f"第{i + 1}-{j + 1}组", level_id=cl.id, kind_id=kind.id, area_desc="", sort_order=0))
    db.session.execute(insert(Grid), rows)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("SELECT setval('grid_id_seq', (SELECT max(id) FROM grid))"))
        db.session.commit()
    return len(rows)


def village_with_worker(username, password):
    """徐旺村 with one house cluster and a grid worker of it (not committed): (village, cluster, worker)."""
    from app.accounts.models import User
    from app.grids import service as gs

    gs.ensure_reference_data()
    general = gs.kind_by_key("general")
    village = gs.create_grid(None, "徐旺村", gs.level_by_key("village"), general)
    cluster = gs.create_grid(village, "徐旺一组", gs.level_by_key("cluster"), general)
    worker = User(username=username, full_name="王网格", role="worker")
    worker.set_password(password)
    worker.grids = [cluster]
    db.session.add(worker)
    return village, cluster, worker

"""Demo content: the real 长兴县 division codes plus synthetic grids, staff and accounts.

The divisions are official (see data/README.md); everything below the
villages, and every person, is made up for demonstration.
"""
import random
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from stdnum.cn import ric

from .accounts.models import User
from .accounts.service import temporary_password
from .assessment.demo import build_demo_assessment
from .cases.demo import build_demo_cases
from .cases.service import ensure_reference_data as ensure_case_reference_data
from .core.db import starts_with
from .core.forms import ServiceError
from .core.models import Setting
from .core.timeutil import local_today
from .core.workdays import is_workday
from .extensions import db
from .grids import service as grid_service
from .grids.models import Grid
from .households import service as ledger
from .households.contacts import assign
from .households.models import ContactLink, Household, HouseholdCategory
from .notices import service as notice_service
from .patrols.demo import build_demo_patrols
from .units import service as units
from .visits.models import Visit
from .visits.service import household_kinds, period_bounds
from .worklogs.models import WeekCheck, WorkLog

DIVISIONS_FILE = Path(__file__).resolve().parent.parent / "data" / "divisions_330522_changxing.csv"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程沈"
GIVEN = "建国伟芳秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰红梅金凤志强海燕春生文斌永康福根水林"
NATURAL_VILLAGES = ["上庄", "下庄", "塘头", "山后", "溪口", "竹园", "新屋", "桥头"]
DEMO_VILLAGES = ["330522200203", "330522200207", "330522200202"]  # 水口、顾渚、徐旺村 of 水口乡


def _name(rng):
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


# Prefixes of Chinese mobile numbers in use (a random 1xx prefix is often not a valid number).
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
                   "156", "157", "158", "159", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189")


def random_mobile(rng):
    """A made-up mobile number that phonenumbers accepts."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7, 10**8)}"


def _user(username, role, grids, rng, accounts, where):
    password = temporary_password()
    user = User(username=username, full_name=_name(rng), phone=random_mobile(rng), role=role)
    user.set_password(password)
    db.session.add(user)
    user.grids = grids
    accounts.append((username, user.role_name, password, where))
    return user


def build_demo(seed=20261127):
    """Create the demo on an empty database and return (username, role, password, where) rows."""
    if Setting.get("setup_done") == "1":
        raise ServiceError("数据库已初始化，演示数据只能建在空数据库上。")
    rng = random.Random(seed)
    result = grid_service.import_divisions(DIVISIONS_FILE.read_text(encoding="utf-8"))
    if result.errors:
        raise ServiceError("；".join(result.errors))
    county = db.session.scalar(select(Grid).where(Grid.division_code == "330522000000"))
    villages = [db.session.scalar(select(Grid).where(Grid.division_code == c)) for c in DEMO_VILLAGES]
    town = villages[0].parent
    nv_level, cl_level = grid_service.level_by_key("natural_village"), grid_service.level_by_key("cluster")
    general = grid_service.kind_by_key("general")
    accounts = []
    _user("admin", "admin", [county], rng, accounts, county.name)
    _user("township", "township", [town], rng, accounts, town.name)
    _user("auditor", "auditor", [county], rng, accounts, county.name)
    for vi, village in enumerate(villages, start=1):
        vadmin = _user(f"village{vi}", "village_admin", [village], rng, accounts, village.name)
        grid_service.assign_staff(village, "contact_cadre", _user(f"cadre{vi}", "township", [town], rng, accounts, town.name))
        grid_service.assign_staff(village, "info_officer", vadmin)
        for name in rng.sample(NATURAL_VILLAGES, 3):
            nv = grid_service.create_grid(village, f"{name}自然村", nv_level, general,
                                          area_desc=f"{village.name}{name}片，沿村道两侧")
            for n in range(1, rng.choice((2, 3)) + 1):
                cluster = grid_service.create_grid(nv, f"{name}第{n}村民小组", cl_level, general)
                for _ in range(rng.choice((3, 5, 6))):
                    grid_service.assign_staff(cluster, "team_member", None, _name(rng), random_mobile(rng),
                                              rng.choice(["村医", "民警", "党员代表", "志愿者", "妇女主任"]))
        leader = _user(f"leader{vi}", "leader", [village], rng, accounts, village.name)
        grid_service.assign_staff(village, "leader", leader)
        clusters = db.session.scalars(select(Grid).where(starts_with(Grid.path, village.path), Grid.level_id == cl_level.id)).all()
        worker = _user(f"worker{vi}", "worker", [clusters[0]], rng, accounts, clusters[0].name)
        grid_service.assign_staff(clusters[0], "worker", worker)
        for cluster in clusters[1:]:
            grid_service.assign_staff(cluster, "worker", None, _name(rng), random_mobile(rng))
        # What the village's notice boards print beyond the ledger (its grids inherit it).
        notice_service.save_notice(village, "\n".join(notice_service.DEFAULT_SERVICES + ["代办老年证、残疾证"]),
                                   f"0572-60{rng.randint(10000, 99999)}", "工作日 8:30—17:00，急事随时电话")
    build_demo_ledger(villages[2], rng)
    # Each village's worker writes logs (and visits, where the ledger is kept) with their own diligence.
    diligence = (0.9, 0.6, 0.8)
    for vi, village in enumerate(villages):
        build_demo_field_work(village, rng, diligence[vi])

    ensure_case_reference_data()
    build_demo_cases(villages[0], rng)

    build_demo_patrols(villages[0])

    build_demo_assessment(town, villages, diligence, rng)
    Setting.put("org_name", county.name)
    Setting.put("setup_done", "1")
    for user in db.session.scalars(select(User)):
        user.must_change_password = False
    return accounts


# Who lives with a head born in a given year: each relation's birth years relative to the head's
# (a spouse of about the same age, children 20–38 years younger, grandchildren 42–62, a mother
# 18–38 older), so no 14-year-old spouse or grandson older than the head appears.
MEMBER_BIRTH_YEARS = {"配偶": (-6, 7), "子": (20, 39), "女": (20, 39), "儿媳": (18, 41), "孙子": (42, 63),
                      "孙女": (42, 63), "母亲": (-38, -17)}
DEMO_YEAR = 2026


def member_years(relation, head_year):
    """The birth years (from, to exclusive) a member of ``relation`` may have, or None when none fits
    (an adult spouse and an adult daughter-in-law; nobody born in the future or over 100)."""
    low, high = MEMBER_BIRTH_YEARS[relation]
    lo, hi = head_year + low, head_year + high
    lo = max(lo, DEMO_YEAR - 100)
    hi = min(hi, DEMO_YEAR - 18 + 1 if relation in ("配偶", "儿媳") else DEMO_YEAR)
    return (lo, hi) if lo < hi else None


def demo_members(rng, head_year):
    """(relation, birth years) of a household's other members: at most one spouse, a mother, and a
    daughter-in-law only beside a son."""
    members, taken = [], set()
    for _ in range(rng.randrange(1, 4)):
        relation = rng.choice([r for r in MEMBER_BIRTH_YEARS if r not in taken or r in ("子", "女", "孙子", "孙女")])
        if relation == "儿媳" and "子" not in taken:
            relation = "子"
        years = member_years(relation, head_year)
        if years is None:
            continue
        taken.add(relation)
        members.append((relation, years))
    return members
STREETS = ["村道", "新村", "老街", "桥头", "塘边", "竹园"]


def _demo_id(rng, used, year_from, year_to):
    """A made-up but valid ID number of 长兴县 (330522)."""
    while True:
        born = date(rng.randrange(year_from, year_to), rng.randrange(1, 13), rng.randrange(1, 29))
        body = f"330522{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
        number = body + ric.calc_check_digit(body + "0")
        if number not in used:
            used.add(number)
            return number


def build_demo_ledger(village, rng):
    """Households, categories, units and contact links in one demo village (all made up)."""
    actor = db.session.scalar(select(User).where(User.username == "admin"))
    worker = db.session.scalar(select(User).where(User.role == "worker", User.grids.any(starts_with(Grid.path, village.path))))
    categories = db.session.scalars(select(HouseholdCategory).where(HouseholdCategory.grid_id.is_(None))).all()
    clusters = db.session.scalars(select(Grid).where(starts_with(Grid.path, village.path),
                                                     ~Grid.children.any()).order_by(Grid.path)).all()
    used = set()
    for cluster in clusters:
        for n in range(rng.randrange(6, 11)):
            head_id = _demo_id(rng, used, 1940, 1985)
            head = ledger.ResidentData(name=_name(rng), id_number=head_id,
                                       phone=random_mobile(rng), political_status=rng.choice(["群众"] * 8 + ["中共党员"]))
            street = rng.choice(STREETS)
            h = ledger.create_household(actor, cluster, f"{cluster.name[:-4]}{street}{n + 1}号", head)
            for relation, (born_from, born_to) in demo_members(rng, int(head_id[6:10])):
                ledger.add_resident(h, ledger.ResidentData(name=_name(rng), relation=relation,
                                                           id_number=_demo_id(rng, used, born_from, born_to)))
            if rng.random() < 0.25:
                ledger.tag(h, rng.choice(categories), date(2026, rng.randrange(1, 11), 1), "入户走访核实")
            if worker is not None and cluster in worker.grids:
                assign(h, worker)
    # A made-up credit code with valid check characters, and two sole traders without one.
    for name, kind, grade, key, code in (("徐旺竹木加工厂", "生产经营单位", "较大风险", True, "91330522K8PBRNYT0J"),
                                         ("徐旺农家乐", "个体工商户", "低风险", False, ""),
                                         ("徐旺小卖部", "个体工商户", "低风险", False, "")):
        units.save_unit(actor, clusters[0], units.UnitData(name=name, kind=kind, credit_code=code, risk_grade=grade,
                                                           key_supervision=key, contact_name=_name(rng),
                                                           contact_phone=random_mobile(rng)))


# What a visit of each method learned (made up).
VISIT_NOTES = {
    "door": ["了解家庭收入和就医情况，宣传城乡居民医保缴费政策，老人身体尚可。",
             "户主反映屋后排水沟堵塞，雨天积水，已拍照记录，答应联系村里清理。",
             "独居老人，检查煤气和电线安全，帮助更换灯泡，已告知其女儿近况。",
             "子女在外务工，留守儿童学习情况良好，提醒注意防溺水。"],
    "phone": ["电话回访低保申请进度，告知需补交医院诊断证明。",
              "电话询问老人近况，身体尚好，提醒按时服药。",
              "电话联系在外务工的户主，了解家中老人照料安排。"],
    "lecture": ["宣讲垃圾分类和秸秆禁烧，发放宣传单，家中老人提出希望组织健康体检。",
                "微宣讲：防范电信诈骗，教老人识别冒充公检法的电话。",
                "微宣讲：城乡居民养老保险缴费档次和补贴政策。"],
    "group": ["集中走访：村干部和网格员一同入户，核对家庭人口和联系电话，听取对村务的意见。",
              "集中走访：了解冬季取暖和用电安全，发放联系卡和监督卡。",
              "集中走访：核实户籍台账变动，宣传村规民约。"],
}
LOG_NOTES = ["整理走访台账；参加村两委例会。", "协助村医上门体检；巡查河道。", "代办两户医保缴费；宣传防诈骗。",
             "更新户籍台账变动信息；走访重点户。", "参加乡镇网格员培训。"]


def _workdays(first, last):
    """The working days from ``first`` to ``last`` (inclusive)."""
    days, day = [], first
    while day <= last:
        if is_workday(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def demo_visit_history(village, worker, leader, rng, diligence, today):
    """Half a year of visits the way the rules ask for them (篇二, 篇四), mostly on time.

    The worker contacts each linked household every month (a 重点户 in person, the others at the door
    or by phone) and gives it a 微宣讲 every quarter; the village holds its quarterly 集中走访 round in
    the middle month of each quarter, the village's cadres and the worker going to every household.
    A household is left out of a month's contact or a quarter's lecture now and then (less often the
    more diligent the worker) and of a round rarely, so the due list shows a few overdue households
    and the current month's and quarter's work still to do. Returns the visits (added, not flushed)."""
    everyone = db.session.scalars(select(Household).join(Grid, Grid.id == Household.grid_id).where(
        starts_with(Grid.path, village.path), Household.status == "active").order_by(Household.id)).all()
    linked = set(db.session.scalars(select(ContactLink.household_id).where(ContactLink.user_id == worker.id,
                                                                          ContactLink.role == "grid_worker")))
    homes = [h for h in everyone if h.id in linked]
    key = household_kinds([h.id for h in homes], today).key_ids
    miss = (1 - diligence) / 2
    yesterday = today - timedelta(days=1)
    visits = []

    def add(h, user, method, day):
        visits.append(Visit(household_id=h.id, grid_id=h.grid_id, user_id=user.id, method=method,
                            by_cadre=user is not worker, visited_on=day,
                            visited_at=datetime(day.year, day.month, day.day, rng.randrange(1, 9), rng.randrange(60)),
                            learned=rng.choice(VISIT_NOTES[method])))

    first, _ = period_bounds("month", today - timedelta(days=183))
    while first <= today:  # every month: a contact with each linked household
        _, last = period_bounds("month", first)
        days, current = _workdays(first, min(last, yesterday)), last >= today
        for h in homes:
            if days and rng.random() >= (0.5 if current else miss):
                add(h, worker, "door" if h.id in key else rng.choice(("door", "phone", "phone")), rng.choice(days))
        first = last + timedelta(days=1)

    first, _ = period_bounds("quarter", today - timedelta(days=275))
    while first <= today:  # every quarter: a 微宣讲 to each linked household, and the village's round
        _, last = period_bounds("quarter", first)
        days, current = _workdays(first, min(last, yesterday)), last >= today
        for h in homes:
            if days and rng.random() >= (0.5 if current else miss):
                add(h, worker, "lecture", rng.choice(days))
        middle = date(first.year, first.month + 1, 10)
        round_days = [d for d in _workdays(middle, middle + timedelta(days=10))[:3] if d < today]
        if round_days and leader is not None:
            for h in everyone:
                if rng.random() >= 0.04:
                    add(h, worker if h.id in linked else leader, "group", rng.choice(round_days))
        first = last + timedelta(days=1)
    db.session.add_all(visits)
    return visits


def build_demo_field_work(village, rng, diligence=0.8):
    """Made-up visits (half a year, demo_visit_history) and ten weeks of work logs by the demo
    village's worker (``diligence``: how regularly, 0–1), one week checked."""
    worker = db.session.scalar(select(User).where(User.role == "worker", User.grids.any(starts_with(Grid.path, village.path))))
    leader = db.session.scalar(select(User).where(User.role == "leader", User.grids.any(Grid.id == village.id)))
    if worker is None:
        return
    # The ledger has been kept for a year: households and links predate the visits.
    year_ago = datetime.now() - timedelta(days=400)
    for h in db.session.scalars(select(Household).where(Household.grid_id.in_(
            select(Grid.id).where(starts_with(Grid.path, village.path))))):
        h.created_at = year_ago
    for link in db.session.scalars(select(ContactLink).where(ContactLink.user_id == worker.id)):
        link.since = year_ago.date()
    today = local_today()
    demo_visit_history(village, worker, leader, rng, diligence, today)
    day = today - timedelta(days=70)
    while day < today:
        if is_workday(day) and rng.random() < diligence + 0.05:
            db.session.add(WorkLog(user_id=worker.id, log_date=day, content=rng.choice(LOG_NOTES)))
        day += timedelta(days=1)
    if leader is not None:
        monday = today - timedelta(days=today.weekday() + 14)
        db.session.add(WeekCheck(user_id=worker.id, week_start=monday, checker_id=leader.id, comment="日志填写完整，走访到位。"))
    db.session.flush()

"""Demo cases in the first demo village: one at each stage, one overdue, one emergency, one from the QR code."""
from datetime import timedelta

from sqlalchemy import select

from ..accounts.models import User
from ..core.db import starts_with
from ..core.timeutil import utcnow
from ..extensions import db
from ..grids.models import Grid
from . import service
from .models import CaseCategory, Department


def build_demo_cases(village, rng):
    """Cases raised by the village's worker and handled by its leader and the township (all made up)."""
    def user(role, path):
        return db.session.scalar(select(User).where(User.role == role, User.grids.any(starts_with(Grid.path, path)))
                                 .order_by(User.id))

    leader, worker = user("leader", village.path), user("worker", village.path)
    township = db.session.scalar(select(User).where(User.username == "township"))
    cluster = worker.grids[0]
    cat = {c.name: c.id for c in db.session.scalars(select(CaseCategory))}

    def new(title, category, klass="coordination", now=None, **kw):
        data = service.CaseData(title=title, category_id=cat[category], handling_class=klass, location=kw.pop("where", ""),
                                reporter_name=kw.pop("who", ""), description=kw.pop("what", ""))
        case = service.create_case(worker, cluster, data, now=now)
        db.session.flush()
        return case

    def step(actor, case, action, **kw):
        service.perform(actor, case, action, case.version, **kw)
        db.session.flush()

    new("村道雨后积水", "环境", where=f"{cluster.name}村道", what="下雨后村道低洼处积水，影响出行")
    # Reported, accepted and assigned 12 days ago: its 5-working-day limit has passed, on the form too.
    then = utcnow() - timedelta(days=12)
    late = new("垃圾清运不及时", "环境", where=f"{cluster.name}垃圾集中点", who="张阿姨", now=then)
    step(leader, late, "accept", now=then + timedelta(hours=2))
    step(leader, late, "assign", assignee_id=worker.id, note="联系保洁员加派一次清运", now=then + timedelta(hours=3))
    urgent = new("山塘坝体渗水", "水利", "emergency", where="后山山塘", what="坝脚有明显渗水，需尽快查看")
    # The village reports it up to the township in one step, which transfers it to the 水利站.
    step(leader, urgent, "escalate", note="村里无法处置，需水利站技术人员查看")
    step(township, urgent, "accept")
    step(township, urgent, "transfer", department_id=db.session.scalar(
        select(Department.id).where(Department.name == "水利站")), note="请水利站当天到场")
    done = new("低保政策咨询", "民政", "general", who="王大爷", what="询问低保申请需要哪些材料")
    step(worker, done, "solve_on_spot", note="当场讲解申请条件和材料清单")
    step(leader, done, "follow_up", satisfaction="satisfied", note="电话回访，群众满意")
    step(leader, done, "archive")
    service.public_report(cluster, "路灯坏了好几天了", "小组活动室门口", "13700000000")

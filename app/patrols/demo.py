"""Demo patrols in the first demo village: a recent one, an old one, and a hazard under supervision (all made up)."""
from datetime import timedelta

from sqlalchemy import select

from ..accounts.models import User
from ..core.db import starts_with
from ..core.timeutil import local_today, utcnow
from ..extensions import db
from ..grids.models import Grid
from . import service


def build_demo_patrols(village):
    """The leader patrolled a natural village long ago, the worker their cluster today; the township lists one hazard for supervised rectification."""
    worker = db.session.scalar(select(User).where(User.role == "worker", User.grids.any(starts_with(Grid.path, village.path))))
    township = db.session.scalar(select(User).where(User.username == "township"))
    leader = db.session.scalar(select(User).where(User.role == "leader", User.grids.any(Grid.id == village.id)))
    cluster = worker.grids[0]
    old = service.record_patrol(leader, cluster.parent, None, service.PatrolData(
        place=f"{cluster.parent.name}村道沿线", checked="道路、河塘护栏、用电线路", findings="正常"))
    old.patrolled_at = utcnow() - timedelta(days=40)
    patrol = service.record_patrol(worker, cluster, None, service.PatrolData(
        place=f"{cluster.name}竹木加工点", checked="消防通道、灭火器、电线", findings="消防通道被木料堵塞",
        hazard="竹木加工点消防通道被木料堵塞", severity="general"))
    db.session.flush()
    db.session.refresh(patrol)
    hazard = patrol.hazards[0]
    service.act(township, hazard, "supervise", hazard.version, deadline=local_today() + timedelta(days=7),
                measures="木料限期清运，设置警示标志，专人值守", note="挂牌督办")

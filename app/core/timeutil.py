"""Times are stored as naive UTC and shown in Asia/Shanghai."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow():
    """Current time as naive UTC, the form stored in the database."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_local(dt):
    """A stored naive-UTC datetime as an aware Asia/Shanghai datetime."""
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ)


def fmt_local(dt, fmt="%Y-%m-%d %H:%M"):
    """Format a stored datetime for display in local time."""
    local = to_local(dt)
    return local.strftime(fmt) if local else ""


def local_today():
    """Today's date in China (the server's clock may run on UTC)."""
    return datetime.now(LOCAL_TZ).date()

"""Working days: the official calendar with 调休 make-up days, the admin's table for years the
library does not know, deadlines in working days and hours, and the yellow/red states."""
from datetime import date, datetime, timedelta

from app.core.workdays import (CalendarDay, add_workdays, deadline_state, hour_deadline, is_workday, library_years,
                               workday_deadline, workdays_between, year_is_known)
from app.extensions import db


def test_make_up_weekend_days_are_working_days(ctx):
    # 2025: Sunday 28 September is a 调休 working day before National Day; Saturday 27 is not.
    assert is_workday(date(2025, 9, 28)) and not is_workday(date(2025, 9, 27))
    assert add_workdays(date(2025, 9, 26), 1) == date(2025, 9, 28)
    # Saturday 11 October 2025 is worked too; Sunday 12 is not.
    assert add_workdays(date(2025, 10, 10), 1) == date(2025, 10, 11)
    assert add_workdays(date(2025, 10, 11), 1) == date(2025, 10, 13)


def test_national_day_holiday_is_skipped(ctx):
    # 1–8 October 2025 off: one working day after 30 September is 9 October.
    assert add_workdays(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert add_workdays(date(2025, 9, 30), 3) == date(2025, 10, 11)
    assert workdays_between(date(2025, 9, 30), date(2025, 10, 9)) == 1
    # 2026: 1–7 October off, Saturday 10 October worked.
    assert add_workdays(date(2026, 9, 30), 2) == date(2026, 10, 9)
    assert add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert add_workdays(date(2026, 10, 3), 0) == date(2026, 10, 8)


def test_workday_deadline_ends_the_local_day_across_the_holiday(ctx):
    start = datetime(2025, 9, 30, 2, 0)  # 10:00 in China
    assert workday_deadline(1, start) == datetime(2025, 10, 9, 15, 59, 59)  # 23:59:59 local
    # A 5-working-day limit from the Friday before: 28 Sep (Sun, worked), 29, 30, 9 Oct, 10 Oct.
    assert workday_deadline(5, datetime(2025, 9, 26, 1, 0)) == datetime(2025, 10, 10, 15, 59, 59)
    # Hours are clock hours: an emergency does not wait for the holiday to end.
    assert hour_deadline(2, datetime(2025, 10, 1, 4, 0)) == datetime(2025, 10, 1, 6, 0)


def test_a_year_only_the_admin_table_knows(ctx):
    assert 2027 not in library_years()
    assert not year_is_known(2027)
    # Unknown: Monday to Friday.
    assert add_workdays(date(2027, 9, 30), 1) == date(2027, 10, 1)
    for day in range(1, 8):
        db.session.add(CalendarDay(day=date(2027, 10, day), is_workday=False, name="国庆节"))
    db.session.add(CalendarDay(day=date(2027, 9, 26), is_workday=True, name="国庆调休补班"))
    db.session.flush()
    assert year_is_known(2027)
    assert add_workdays(date(2027, 9, 30), 1) == date(2027, 10, 8)
    assert add_workdays(date(2027, 9, 24), 1) == date(2027, 9, 26)  # the make-up Sunday
    db.session.rollback()


def test_the_table_overrides_the_library(ctx):
    assert add_workdays(date(2025, 10, 8), 1) == date(2025, 10, 9)
    db.session.add(CalendarDay(day=date(2025, 10, 9), is_workday=False, name="本地调整"))
    db.session.flush()
    assert add_workdays(date(2025, 10, 8), 1) == date(2025, 10, 10)
    db.session.rollback()


def test_yellow_before_red_after():
    start = datetime(2026, 3, 2, 0, 0)
    deadline = start + timedelta(days=8)
    assert deadline_state(start, deadline, start + timedelta(days=1)) == "ok"
    assert deadline_state(start, deadline, start + timedelta(days=6, hours=12)) == "warn"  # last quarter
    assert deadline_state(start, deadline, deadline - timedelta(minutes=1)) == "warn"
    assert deadline_state(start, deadline, deadline + timedelta(seconds=1)) == "late"
    short = start + timedelta(hours=2)  # a 2-hour limit is yellow in its last 4 hours: at once
    assert deadline_state(start, short, start + timedelta(minutes=1)) == "warn"
    assert deadline_state(start, None, start) == "ok"


def test_admin_calendar_page(app, make_client, users):
    c = make_client()
    c.login("admin")
    page = c.get("/admin/workdays").get_data(as_text=True)
    assert "工作日历" in page
    resp = c.post("/admin/workdays", {"day": "2027-10-01", "is_workday": "0", "name": "国庆节"})
    assert resp.status_code == 302
    resp = c.post("/admin/workdays", {"day": "2027-13-01", "is_workday": "0"})
    assert resp.status_code == 422 and 'class="error" id="day-err"' in resp.get_data(as_text=True)
    page = c.get("/admin/workdays").get_data(as_text=True)
    assert "2027-10-01" in page and "国庆节" in page
    with app.app_context():
        from sqlalchemy import select

        row = db.session.scalar(select(CalendarDay))
        assert row.day == date(2027, 10, 1) and not row.is_workday
        row_id = row.id
    assert c.post(f"/admin/workdays/{row_id}/delete").status_code == 302
    # Only the administrator amends the calendar.
    t = make_client()
    t.login("township")
    assert t.get("/admin/workdays").status_code == 403

"""PDF figures: a worker's monthly work log (~60 entries) against bare Chinese documents.

``worklog_pdf_vs_bare_same_pages`` compares the work log with a bare document of the same page
count that goes through the same print path (print.css: running header, page numbers) and ends
with the same signature block, so the fixed cost of a document (fonts subset and embedded, the
stylesheet, the margin boxes) is in both. All are rendered in this process with the same fonts,
each the best of a few runs after a warm-up, so the ratios do not depend on how busy the machine is.
Run alone with ``python -m bench.pdf``.
"""
import json
import os
import sys
import tempfile
import time
from datetime import date, datetime, timedelta

BARE_PARAGRAPH = ("网格员按照“日报周查月考核”的要求，每天记录走访情况、发现的问题和办理结果，"
                  "每周由网格长检查，每月汇总归档，做到件件有回音、事事有落实。")


BARE_PARAGRAPHS = 160  # ten A4 pages with these margins and this font size


# What grid workers write after a visit (typical length: one to three lines).
NOTES = [
    "了解家庭收入、就医和子女上学情况，宣传城乡居民医保缴费和防范电信诈骗政策，老人身体尚可，儿子在湖州务工，春节回家。",
    "户主反映屋后排水沟堵塞，雨天积水进院，已拍照记录，答应本周内联系村里安排清理，并提醒注意用电安全。",
    "电话回访上月低保申请进度，已告知乡镇民政办正在审核，需补交一份医院诊断证明，户主表示明天送到村委。",
    "微宣讲：垃圾分类和秸秆禁烧，发放宣传单两份，家中两位老人听得很认真，提出希望村里多组织健康体检。",
    "独居老人，行动不便，检查了煤气和电线，帮助更换了一个灯泡，约定下周再来看看，已告知其女儿近况。",
]


def bare_html(paragraphs):
    """Plain paragraphs with a bold heading every 17 (about one a page): the same two faces
    (regular and bold) of the same fonts as the work log (the print font, then the system's
    Noto Sans CJK SC), so both embed the same fonts."""
    body = "".join((f"<h2>第{i // 17 + 1}节</h2>" if i % 17 == 0 else "") + f"<p>{i + 1}. {BARE_PARAGRAPH}</p>"
                   for i in range(paragraphs))
    return ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>'
            '@page { size: A4; margin: 20mm } html { font-family: "VillageGrid Print", "Noto Sans CJK SC", sans-serif; font-size: 10.5pt; }'
            f'</style></head><body>{body}</body></html>')


SAME_PAGES_TEMPLATE = """{% extends "print/_base.html" %}{% block content %}<h1>{{ doc_title }}</h1>
{% for i in range(paragraphs) %}{% if i % 17 == 0 %}<h3>第{{ i // 17 + 1 }}节</h3>{% endif %}<p>{{ i + 1 }}. {{ text }}</p>{% endfor %}
<div class="signatures">
  <div>网格员（签字）：<span class="sigline"></span><br><br>日期：<span class="sigline"></span></div>
  <div>检查人（签字）：<span class="sigline"></span><br><br>日期：<span class="sigline"></span></div>
</div>{% endblock %}"""


def bare_same_pages(pages, header, title):
    """A bare document of exactly ``pages`` pages through the same print path as the work log —
    print.css, its running header and 第 N 页 / 共 M 页, the same signature block — made of plain
    paragraphs: (html, pages). Of the paragraph counts that give that many pages, the middle one
    is taken, so its last page is about half full (neither a lone signature block nor a full page)."""
    from flask import render_template_string

    from app.core import pdf

    def make(n):
        html = render_template_string(SAME_PAGES_TEMPLATE, doc_title=title, doc_header=header, paragraphs=n,
                                      text=BARE_PARAGRAPH)
        return html, pdf.html_to_pdf(html, with_pages=True)[1]

    fits = []
    n = max(1, (pages - 1) * 16 - 16)
    while True:
        got = make(n)[1]
        if got == pages:
            fits.append(n)
        elif got > pages:
            break
        n += 1
    if not fits:
        raise SystemExit(f"no bare document of {pages} pages")
    return make(fits[len(fits) // 2])


def _best(fn, runs=5):
    """Best of ``runs`` after a warm-up, in CPU seconds of this process (rendering is
    single-threaded CPU work; CPU time is not inflated by other programs on a busy machine)."""
    fn()  # warm-up: fonts loaded, caches filled
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return min(times), out


def _seed_worker():
    """A worker in a house cluster of 12 households, and a leader of the village."""
    from app.accounts.models import User
    from app.extensions import db
    from app.households import service as hs
    from bench.generate import village_with_worker
    from stdnum.cn import ric

    village, cluster, worker = village_with_worker("w", "Bench-pass-2026")
    leader = User(username="l", full_name="李组长", role="leader")
    leader.set_password("Bench-pass-2026")
    leader.grids = [village]
    db.session.add(leader)

    class _Admin:
        is_admin = True
        is_authenticated = True

    homes = []
    for i in range(12):
        body = f"330522196{i % 10}0101{i:03d}"
        homes.append(hs.create_household(_Admin(), cluster, f"徐旺村{i + 1}号",
                                         hs.ResidentData(name=f"村民{i + 1}", id_number=body + ric.calc_check_digit(body + "0"))))
    db.session.flush()
    return worker, cluster, homes


def _seed_month(worker, cluster, homes, first, entries, per_day):
    """``entries`` visits (``per_day`` a working day) and a log on every working day of the month, one week checked."""
    from app.extensions import db
    from app.visits.models import Visit
    from app.worklogs.models import WeekCheck, WorkLog
    from app.core.workdays import is_workday

    d, n = first, 0
    while d.month == first.month:
        if is_workday(d):
            for k in range(per_day):
                if n >= entries:
                    break
                h = homes[n % len(homes)]
                db.session.add(Visit(household_id=h.id, grid_id=cluster.id, user_id=worker.id, method="door",
                                     visited_at=datetime(d.year, d.month, d.day, 1 + k % 10, k // 10 * 5),
                                     visited_on=d, learned=NOTES[n % len(NOTES)]))
                n += 1
            db.session.add(WorkLog(user_id=worker.id, log_date=d, content="整理台账；参加村两委例会；巡查河道和山塘。"))
        d += timedelta(days=1)
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    db.session.add(WeekCheck(user_id=worker.id, week_start=monday, checker_id=1, comment="记录完整，走访到位。"))
    db.session.commit()
    return n


def pdf_figures():
    from flask_migrate import upgrade

    from app import create_app
    from app.core import pdf
    from app.extensions import db
    from app.worklogs.routes import render_month_pdf

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VG_INSTANCE_PATH"] = tmp
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/pdf.db", "CHECK_PRINT_STACK": False})
        with app.app_context():
            upgrade()
        first, busy = date(2026, 10, 1), date(2026, 11, 1)
        with app.test_request_context():
            worker, cluster, homes = _seed_worker()
            entries = _seed_month(worker, cluster, homes, first, 60, 4)
            busy_entries = _seed_month(worker, cluster, homes, busy, 120, 6)
            worklog_s, (worklog_pdf, worklog_pages) = _best(
                lambda: render_month_pdf(worker, first, today=date(2026, 12, 15), with_pages=True))
            # The same page count, the same running header, page numbers and signature block.
            same_html, same_pages = bare_same_pages(worklog_pages, f"徐旺村 · {first.year}年{first.month}月",
                                                    f"网格员工作日志（{first.year}年{first.month}月）")
            same_s, _ = _best(lambda: pdf.html_to_pdf(same_html, with_pages=True))
            bare = bare_html(BARE_PARAGRAPHS)
            bare_s, (_, bare_pages) = _best(lambda: pdf.html_to_pdf(bare, with_pages=True, plain=True))
            # What one more page costs, without the per-document part (fonts subset and
            # embedded, stylesheet, margin boxes): a busier month, and a bare document twice as long.
            busy_s, (_, busy_pages) = _best(
                lambda: render_month_pdf(worker, busy, today=date(2026, 12, 15), with_pages=True))
            long_bare = bare_html(BARE_PARAGRAPHS * 2)
            long_s, (_, long_pages) = _best(lambda: pdf.html_to_pdf(long_bare, with_pages=True, plain=True))
            db.session.remove()
        with app.app_context():
            db.engine.dispose()
    return {
        "worklog_entries": entries,
        "worklog_pdf_s": round(worklog_s, 3),
        "worklog_pdf_pages": worklog_pages,
        "worklog_pdf_kb": round(len(worklog_pdf) / 1024),
        "bare_pdf_pages": bare_pages,
        "bare_pdf_10p_s": round(bare_s, 3),
        "bare_same_pages_s": round(same_s, 3),
        "worklog_pdf_vs_bare_same_pages": round(worklog_s / same_s, 3),
        "busy_entries": busy_entries,
        "busy_pages": busy_pages,
        "long_bare_pages": long_pages,
        "worklog_page_marginal_vs_bare": round(((busy_s - worklog_s) / (busy_pages - worklog_pages))
                                               / ((long_s - bare_s) / (long_pages - bare_pages)), 3),
    }


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    print(json.dumps(pdf_figures(), ensure_ascii=False))

"""Use a running VillageGrid over HTTP as a browser would: the `make dist-test` walk-through.

    python scripts/dist/drive.py BASE_URL OUT_DIR setup   # the one-time set-up page
    python scripts/dist/drive.py BASE_URL OUT_DIR work    # after import-divisions: the rest

The one-time set-up (the administrator is 王堃: a character outside the cut print face), the
ledger (a household entered on its form), a visit, a case, three PDFs checked with pdftotext
(the Chinese text, 堃 included) and pdffonts (every font embedded), and the ledger's Excel
export read back. Forms are read from the pages and sent with their CSRF token and defaults,
as the browser sends them. Prints one ``name: value`` line per figure and exits 1 on the first
thing that is wrong.
"""
import html.parser
import http.cookiejar
import io
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

PASSWORD = "Cun-wang-ge-2026"
ADMIN_NAME = "王堃"


class Forms(html.parser.HTMLParser):
    """The forms of a page: action, method and the values a browser would send by default."""

    def __init__(self):
        super().__init__()
        self.forms, self._form, self._select, self._textarea = [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {},
                          "options": {}}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file"):
                self._form["fields"][a["name"]] = a.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"].setdefault(self._select, None)
            self._form["options"][self._select] = []
        elif tag == "option" and self._select:
            self._form["options"][self._select].append(a.get("value", ""))
            if "selected" in a or self._form["fields"][self._select] is None:
                self._form["fields"][self._select] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form["fields"][self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._form = None

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form["fields"][self._textarea] += data


class Browser:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path, data=None):
        """(final URL, status, headers, body bytes); redirects followed."""
        req = urllib.request.Request(self.base + path if path.startswith("/") else path, data=data)
        try:
            with self.opener.open(req, timeout=60) as res:
                return res.geturl(), res.status, res.headers, res.read()
        except urllib.error.HTTPError as exc:
            return exc.geturl(), exc.code, exc.headers, exc.read()

    def get(self, path, expect=200):
        url, status, headers, body = self.open(path)
        check(status == expect, f"GET {path}: HTTP {status}")
        return url, headers, body

    def form(self, path, match, **values):
        """GET ``path``, take the form whose action contains ``match``, set ``values``, POST it."""
        _, _, page = self.get(path)
        parser = Forms()
        parser.feed(page.decode())
        forms = [f for f in parser.forms if f["method"] == "post" and match in (f["action"] or path)]
        check(forms, f"{path}: 没有提交到 {match} 的表单")
        form = forms[0]
        fields = {k: v for k, v in form["fields"].items() if v is not None}
        for key, value in values.items():
            if callable(value):
                value = value(form["options"].get(key, []))
            fields[key] = value
        action = urllib.parse.urljoin(self.base + path, form["action"] or path)
        url, status, _, body = self.open(action, urllib.parse.urlencode(fields).encode())
        text = body.decode(errors="replace")
        check(status == 200, f"POST {form['action']}: HTTP {status}")
        errors = re.findall(r'class="[^"]*(?:error|invalid)[^"]*"[^>]*>([^<]{2,120})<', text)
        return url, text, errors


def check(ok, message):
    if not ok:
        print(f"dist-test 失败：{message}", file=sys.stderr)
        sys.exit(1)


def pdf_checks(name, data, must_contain, out):
    """The PDF's text has ``must_contain`` (pdftotext) and every font is embedded (pdffonts)."""
    check(data[:5] == b"%PDF-", f"{name}：不是 PDF")
    path = Path(out) / name
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for word in must_contain:
        check(word in text, f"{name}：PDF 文字中没有“{word}”")
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    check(fonts, f"{name}：PDF 没有字体")
    for line in fonts:
        columns = line.split()
        emb = columns[-5]  # name type [encoding] emb sub uni object ID
        check(emb == "yes", f"{name}：字体没有嵌入：{line}")
    print(f"pdf {name}: {len(data) // 1024} KB, {len(fonts)} embedded fonts, text ok")


def main(base, out, phase):
    b = Browser(base)
    Path(out).mkdir(parents=True, exist_ok=True)
    if phase == "setup":
        url, _, _ = b.get("/")
        check(url.endswith("/setup"), f"首页没有转到初始化页面（{url}）")
        url, text, errors = b.form("/setup", "/setup", org_name="长兴县", org_level="county",
                                   division_code="330522000000", username="chief", full_name=ADMIN_NAME,
                                   password=PASSWORD, confirm=PASSWORD)
        check(not url.endswith("/setup"), f"初始化未完成：{errors or text[:300]}")
        print("setup: ok")
        return
    url, text, errors = b.form("/login", "/login", username="chief", password=PASSWORD)
    check("/login" not in url, f"登录失败：{errors}")

    # the ledger: a household with its head, on the lowest grid the tree offers
    url, text, errors = b.form("/households/new", "/households/new", grid_id=lambda opts: [o for o in opts if o][-1],
                               address="雉城街道 新华村 3 组 18 号", head_name="李秀英",
                               head_id_number="330522197803150023", head_phone="13857200001")
    m = re.search(r"/households/(\d+)", url)
    check(m, f"新建户失败：{errors or url}")
    household = int(m.group(1))
    _, _, page = b.get(f"/households/{household}")
    check("李秀英" in page.decode() and "330522197803150023" not in page.decode(), "户页面：户主或身份证号未遮盖")
    _, _, page = b.get("/households/?q=" + urllib.parse.quote("李秀英"))
    check("李秀英" in page.decode(), "台账搜索找不到新建的户")
    print(f"ledger: household {household}")

    url, text, errors = b.form(f"/visits/new?household_id={household}", "/visits/new",
                               learned="户主反映村口路灯不亮，已记录。", problems="村口路灯不亮")
    m = re.search(r"/visits/(\d+)", url)
    check(m and "走访已保存" in text, f"走访未保存：{errors or url}")
    print(f"visit: {m.group(1)}")

    url, text, errors = b.form(f"/cases/new?household_id={household}", "/cases/new",
                               category_id=lambda opts: [o for o in opts if o not in ("", "None")][0],
                               title="村口路灯不亮", description="新华村村口两盏路灯夜间不亮，村民出行不便。",
                               location="新华村村口")
    m = re.search(r"/cases/(\d+)", url)
    check(m and "回执码" in text, f"事件未登记：{errors or url}")
    case = int(m.group(1))
    print(f"case: {case}")

    started = time.monotonic()
    _, headers, data = b.get(f"/cases/{case}/print/report")
    pdf_checks("case-report.pdf", data, ["村口路灯不亮", "新华村"], out)
    print(f"case_pdf_s: {time.monotonic() - started:.2f}")
    _, _, data = b.get(f"/households/{household}/visits.pdf")
    pdf_checks("household-visits.pdf", data, ["李秀英", "村口路灯不亮", ADMIN_NAME], out)
    month = time.strftime("%Y-%m")
    _, _, page = b.get("/")
    me = re.search(r"/worklogs/users/(\d+)", page.decode()) or re.search(r"/users/(\d+)", page.decode())
    uid = me.group(1) if me else "1"
    _, _, data = b.get(f"/worklogs/users/{uid}/month/{month}.pdf")
    pdf_checks("worklog-month.pdf", data, [ADMIN_NAME], out)

    url, status, headers, body = b.open("/households/export", urllib.parse.urlencode(
        {"csrf_token": csrf(b, "/households/")}).encode())
    check(status == 200 and body[:2] == b"PK", f"台账导出失败：HTTP {status}")
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        strings = z.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in z.namelist() else ""
        sheets = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    check("李秀英" in strings + sheets, "导出的 Excel 中没有新建的户")
    check("330522197803150023" not in strings + sheets, "导出的 Excel 中身份证号没有遮盖")
    print(f"excel: {len(body) // 1024} KB, household found, ID masked")
    print("walk-through: ok")


def csrf(b, path):
    _, _, page = b.get(path)
    m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.decode()) or \
        re.search(r'name="csrf-token" content="([^"]+)"', page.decode())
    check(m, f"{path}：页面上没有 CSRF 令牌")
    return m.group(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])

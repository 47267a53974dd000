#!/usr/bin/env bash
# `make dist-test`: the one-file release on a Debian bookworm minbase root with nothing installed
# (no Python, no fonts, no Pango), entered with chroot. The README's one-file instructions are run
# as written; then set-up, the ledger, a visit, a case, PDFs (Chinese text checked with pdftotext,
# embedded fonts with pdffonts) and Excel are used over HTTP (scripts/dist/drive.py), the CLI is
# tried; a restart (no unpacking, no database read-through), a crash, a failed upgrade put back
# from its backup, an upgrade, the refusals and another build beside this one are checked, and
# the figures are printed, the last line one JSON object.
#
# The root is made once with debootstrap from the Debian mirror apt already uses and kept in
# /var/cache/villagegrid-dist (VG_DIST_CACHE). Without root, debootstrap or chroot the test is
# skipped with a message, except under CI=true, where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
py=${PYTHON:-.venv/bin/python}
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)
name="villagegrid-$version-linux-x86_64"
file="dist/$name"
cache=${VG_DIST_CACHE:-/var/cache/villagegrid-dist}
root="$cache/bookworm-minbase"
port=${VG_DIST_TEST_PORT:-18080}

skip() {
  if [ "${CI:-}" = true ]; then echo "dist-test 失败：$1" >&2; exit 1; fi
  echo "dist-test 跳过：$1"; exit 0
}
fail() { echo "dist-test 失败：$1" >&2; exit 1; }

[ -f "$file" ] || fail "没有 $file，请先运行 make dist"
[ "$(id -u)" = 0 ] || skip "需要 root 权限（debootstrap 和 chroot）"
command -v debootstrap >/dev/null || skip "没有 debootstrap（apt-get install debootstrap）"
command -v chroot >/dev/null || skip "没有 chroot"
command -v pdftotext >/dev/null && command -v pdffonts >/dev/null || skip "没有 pdftotext/pdffonts（apt-get install poppler-utils）"

# The mirror apt uses for bookworm (deb822 .sources or one-line .list), else Debian's own.
mirror=$( { grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '$3 == "bookworm" {print $2}';
            awk '/^URIs:/ {u = $2} /^Suites:/ && / bookworm( |$)/ {print u}' /etc/apt/sources.list.d/*.sources 2>/dev/null;
          } | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
if [ ! -x "$root/bin/sh" ]; then
  echo "making the minbase root in $root from $mirror (once)"
  mkdir -p "$cache"
  rm -rf "$root.partial"
  debootstrap --variant=minbase bookworm "$root.partial" "$mirror" > "$cache/debootstrap.log" 2>&1 \
    || { tail -5 "$cache/debootstrap.log"; skip "debootstrap 失败（见 $cache/debootstrap.log）"; }
  mv "$root.partial" "$root"
fi
for nothing in /usr/bin/python3 /usr/bin/fc-list /usr/share/fonts; do
  [ ! -e "$root$nothing" ] || fail "最小系统里不应有 $nothing"
done

# A fresh home in the root for this run; the server is stopped and /proc unmounted whatever happens.
work=$(mktemp -d "$root/root/dist-test.XXXXXX")
inside=${work#"$root"}
out=$(mktemp -d)
cleanup() {
  for pidfile in "$work"/pid-*; do [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true; done
  sleep 0.5
  umount "$root/proc" 2>/dev/null || true
  [ -n "${VG_DIST_KEEP:-}" ] && { echo "kept: $work $out"; return; }
  rm -rf "$work" "$root/opt/villagegrid" "$out"
}
trap cleanup EXIT
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
cp "$file" "$work/"
cp data/divisions_330522_changxing.csv "$work/divisions.csv"
rm -rf "$root/opt/villagegrid"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
wait_healthz() {  # $1: the server's name. "<seconds> <CPU seconds>" from its start until /healthz
  # answers (fails after 60 s); one poller, so the polling takes little CPU from the start measured
  "$py" - "$port" "$(cat "$work/pid-$1")" "$(cat "$work/start-$1")" <<'EOF'
import os, sys, time, urllib.request
port, pid, started = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
while time.time() - started < 60:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except OSError:
        time.sleep(0.05)
        continue
    wall = time.time() - started
    with open(f"/proc/{pid}/stat") as fh:  # user + system time of every thread of the program so far
        fields = fh.read().rsplit(")", 1)[1].split()
    print(f"{wall:.2f} {(int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'):.2f}")
    sys.exit(0)
sys.exit(1)
EOF
}
start_server() {  # $1: a name for the log; the README's start command, in the background
  # exec all the way down (the start-up stub execs the program it unpacked): the pid recorded is the program's
  date +%s.%N > "$work/start-$1"
  ( exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      /bin/sh -c "cd /opt/villagegrid && HOST=127.0.0.1 PORT=$port exec ./villagegrid" ) > "$work/$1.log" 2>&1 &
  echo $! > "$work/pid-$1"
  disown  # its end (a kill -9 below) is not reported by the shell
}
stop_server() {
  kill "$(cat "$work/pid-$1")" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$(cat "$work/pid-$1")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$work/pid-$1"
}

# 1. The README's one-file instructions, as written (the block between the one-file markers),
#    except the last line (the start), which runs in the background.
steps=$(sed -n '/<!-- one-file-steps -->/,/<!-- \/one-file-steps -->/p' README.md | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d')
[ -n "$steps" ] || fail "README 中找不到一键部署的步骤（one-file-steps）"
echo "$steps" | sed '$d' > "$work/steps.sh"
[ "$(echo "$steps" | tail -1)" = "cd /opt/villagegrid && ./villagegrid" ] || fail "README 步骤的最后一行应是启动命令"
in_root /bin/sh -ec "cd $inside && . ./steps.sh"
size_mb=$("$py" -c "import os; print(round(os.path.getsize('$file') / 1048576, 1))")

start_server first
read -r first_start_s first_start_cpu_s < <(wait_healthz first) || { cat "$work/first.log"; fail "第一次启动后 /healthz 没有应答"; }
grep -q "/setup" "$work/first.log" || { cat "$work/first.log"; fail "启动时没有打印初始化页面的地址"; }
grep -q "解压完成" "$work/first.log" || { cat "$work/first.log"; fail "第一次启动没有把程序解压到数据目录"; }
data="$root/opt/villagegrid/villagegrid-data"
runtimes() { find "$data/runtime" -mindepth 1 -maxdepth 1 -type d | wc -l; }
"$py" scripts/dist/drive.py "http://127.0.0.1:$port" "$out" setup
in_root /bin/sh -c "cd /opt/villagegrid && ./villagegrid import-divisions $inside/divisions.csv"
"$py" scripts/dist/drive.py "http://127.0.0.1:$port" "$out" work | tee "$out/walk.txt"

# 2. Two copies on one data folder; a port in use.
set +e
in_root /bin/sh -c "cd /opt/villagegrid && PORT=$((port + 1)) ./villagegrid" > "$work/second.log" 2>&1; code=$?
set -e
[ "$code" = 3 ] && grep -q "只能运行一份" "$work/second.log" || { cat "$work/second.log"; fail "第二份程序没有拒绝启动（退出码 $code）"; }
set +e
in_root /bin/sh -c "cd /opt/villagegrid && VG_INSTANCE_PATH=/tmp/other HOST=127.0.0.1 PORT=$port ./villagegrid" > "$work/port.log" 2>&1; code=$?
set -e
[ "$code" = 4 ] && grep -q "已被其他程序占用" "$work/port.log" || { cat "$work/port.log"; fail "端口被占用时没有拒绝启动（退出码 $code）"; }
stop_server first
[ -f "$data/clean-stop" ] || fail "正常停止后没有留下 clean-stop"

# 3. The CLI in the root: check, version, backup, install-service --print.
in_root /bin/sh -c "cd /opt/villagegrid && ./villagegrid check" > "$work/check.log" 2>&1 || { cat "$work/check.log"; fail "check 失败"; }
grep -q "打印字体：villagegrid-print-bold" "$work/check.log" || { cat "$work/check.log"; fail "check 没有找到打印字体"; }
in_root /bin/sh -c "cd /opt/villagegrid && ./villagegrid version" | grep -q "$version" || fail "version 不对"
backup=$(in_root /bin/sh -c "cd /opt/villagegrid && ./villagegrid backup" | tail -1)
[ -f "$root$backup" ] || fail "backup 没有生成文件（$backup）"
in_root /bin/sh -c "cd /opt/villagegrid && ./villagegrid install-service --print" | grep -q "Restart=on-failure" || fail "install-service --print"

# 4. Cold start (after the first run) and the first PDF after it.
start_server second
read -r cold_start_s cold_start_cpu_s < <(wait_healthz second) || { cat "$work/second.log"; fail "第二次启动后 /healthz 没有应答"; }
! grep -q "解压" "$work/second.log" || { cat "$work/second.log"; fail "第二次启动又解压了一次"; }
! grep -q "数据库完整性检查" "$work/second.log" || { cat "$work/second.log"; fail "正常停止后的启动又做了完整性检查"; }
first_pdf_s=$("$py" - "$port" <<'EOF'
import sys, time, urllib.parse
sys.path.insert(0, "scripts/dist")
import drive
b = drive.Browser(f"http://127.0.0.1:{sys.argv[1]}")
url, _, _ = b.form("/login", "/login", username="chief", password=drive.PASSWORD)
start = time.monotonic()
_, _, data = b.get("/households/1/visits.pdf")
drive.check(data[:5] == b"%PDF-", "启动后的第一份 PDF")
print(f"{time.monotonic() - start:.2f}")
EOF
)
stop_server second

# 4b. After a crash (kill -9) the next start reads the database through (PRAGMA quick_check).
start_server crash
wait_healthz crash > /dev/null || { cat "$work/crash.log"; fail "启动后 /healthz 没有应答"; }
kill -9 "$(cat "$work/pid-crash")"; stop_server crash
[ ! -f "$data/clean-stop" ] || fail "崩溃后仍有 clean-stop"
start_server after-crash
wait_healthz after-crash > /dev/null || { cat "$work/after-crash.log"; fail "崩溃后没有启动"; }
grep -q "数据库完整性检查：正常" "$work/after-crash.log" || { cat "$work/after-crash.log"; fail "崩溃后的启动没有做完整性检查"; }
stop_server after-crash

# 5. An upgrade: a database one schema revision old is backed up and upgraded, every row kept;
#    first with a migration that fails (the stamp of the new revision is refused by a trigger):
#    the backup is put back and the start refused, then without it.
db="$data/villagegrid.db"
VG_INSTANCE_PATH="$data" "$py" - "$db" <<'EOF'
import sqlite3, sys
from app import create_app
from flask_migrate import downgrade
app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{sys.argv[1]}", "CHECK_PRINT_STACK": False})
with app.app_context():
    downgrade(revision="-1")
EOF
counts() { "$py" -c "
import sqlite3, sys
con = sqlite3.connect('file:$db?mode=ro', uri=True)
print(sum(con.execute(f'SELECT count(*) FROM \"{t}\"').fetchone()[0] for (t,) in con.execute(\"SELECT name FROM sqlite_master WHERE type='table' AND name IN ('user','grid','household','resident','visit','case','audit_log')\")))"; }
before=$(counts)
sql() { "$py" -c "import sqlite3, sys; con = sqlite3.connect('$db'); r = con.execute(sys.argv[1]).fetchall(); con.commit(); print(*(v for row in r for v in row))" "$1"; }
old_revision=$(sql "SELECT version_num FROM alembic_version")
sql "CREATE TRIGGER test_block_upgrade BEFORE UPDATE ON alembic_version BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END" > /dev/null
set +e
in_root /bin/sh -c "cd /opt/villagegrid && PORT=$port ./villagegrid" > "$work/failed-upgrade.log" 2>&1; code=$?
set -e
[ "$code" = 8 ] && grep -q "已用升级前的备份 .*before-upgrade-$old_revision-.*\.db 恢复原数据库" "$work/failed-upgrade.log" \
  || { cat "$work/failed-upgrade.log"; fail "迁移失败时没有恢复备份并拒绝启动（退出码 $code）"; }
[ "$(sql "SELECT version_num FROM alembic_version")" = "$old_revision" ] && [ "$(counts)" = "$before" ] \
  || fail "迁移失败后数据库没有恢复原样"
sql "DROP TRIGGER test_block_upgrade" > /dev/null
start_server upgrade
wait_healthz upgrade > /dev/null || { cat "$work/upgrade.log"; fail "升级后没有启动"; }
grep -q "升级前的备份" "$work/upgrade.log" || { cat "$work/upgrade.log"; fail "升级时没有先备份"; }
stop_server upgrade
after=$(counts)
[ "$before" -le "$after" ] || fail "升级后少了数据（$before → $after 行）"

# 6. An older program on a newer database refuses.
"$py" -c "import sqlite3; con = sqlite3.connect('$db'); con.execute(\"UPDATE alembic_version SET version_num='9999_future'\"); con.commit()"
set +e
in_root /bin/sh -c "cd /opt/villagegrid && PORT=$port ./villagegrid" > "$work/newer.log" 2>&1; code=$?
set -e
[ "$code" = 6 ] && grep -q "比本程序新" "$work/newer.log" || { cat "$work/newer.log"; fail "更新的数据库没有被拒绝（退出码 $code）"; }

# 7. Another build beside this one (the same file with another build id in its trailer): it unpacks
#    into a folder of its own; going back to the first runs the folder already there.
cp "$root/opt/villagegrid/villagegrid" "$root/opt/villagegrid/villagegrid-next"
"$py" - "$root/opt/villagegrid/villagegrid-next" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as fh:
    fh.seek(-96 + 24, 2)
    fh.write(b"9.9.9-test".ljust(64, b"\0"))
EOF
in_root /bin/sh -c "cd /opt/villagegrid && ./villagegrid-next version" > "$work/next.log" 2>&1 || { cat "$work/next.log"; fail "另一个版本没有运行"; }
grep -q "解压完成" "$work/next.log" && [ -d "$data/runtime/9.9.9-test" ] && [ "$(runtimes)" = 2 ] || { cat "$work/next.log"; fail "另一个版本没有解压到自己的目录"; }
in_root /bin/sh -c "cd /opt/villagegrid && ./villagegrid version" > "$work/back.log" 2>&1
! grep -q "解压" "$work/back.log" || fail "换回原来的程序又解压了一次"

load=$(cut -d' ' -f1 /proc/loadavg)
echo "dist_size_mb: $size_mb"
echo "dist_first_start_s: $first_start_s (CPU $first_start_cpu_s s; the first start unpacks the program)"
echo "dist_cold_start_s: $cold_start_s (CPU $cold_start_cpu_s s; load average $load on $(nproc) CPUs)"
echo "first_pdf_after_start_s: $first_pdf_s"
echo "{\"dist_size_mb\": $size_mb, \"dist_first_start_s\": $first_start_s, \"dist_cold_start_s\": $cold_start_s, \"dist_cold_start_cpu_s\": $cold_start_cpu_s, \"first_pdf_after_start_s\": $first_pdf_s, \"load_average\": $load}"

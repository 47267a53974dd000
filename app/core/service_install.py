"""Installing the one-file release as a systemd service (``villagegrid install-service``).

It makes a system account of its own (no login shell, no home of its own beyond the data
folder), the data folder owned by that account with mode 0700, writes the unit file and, where
systemd runs, enables and starts it. Each step is reported in Chinese; a step already done is
said to be so, so the command can be run again after an upgrade.
"""
import os
import pwd
import shutil
import subprocess
from pathlib import Path


class InstallError(Exception):
    """The service could not be installed; the message is Chinese."""


def _run(args):
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise InstallError(f"{' '.join(args)} 失败：{(done.stderr or done.stdout).strip()[-300:]}")
    return done.stdout


def install(unit, *, name, user, data, unit_dir):
    """Do the installation; yields one Chinese line per step done."""
    if os.geteuid() != 0:
        raise InstallError("安装系统服务需要 root 权限：请用 sudo 运行，或加 --print 只查看服务文件。")
    try:
        account = pwd.getpwnam(user)
        yield f"系统账号 {user} 已存在"
    except KeyError:
        useradd = shutil.which("useradd")
        if not useradd:
            raise InstallError("找不到 useradd，无法新建系统账号；请手工建好账号后用 --user 指定") from None
        _run([useradd, "--system", "--user-group", "--home-dir", str(data), "--no-create-home",
              "--shell", "/usr/sbin/nologin", user])
        account = pwd.getpwnam(user)
        yield f"已新建系统账号 {user}（不能登录）"
    data.mkdir(parents=True, exist_ok=True)
    os.chown(data, account.pw_uid, account.pw_gid)
    os.chmod(data, 0o700)
    for folder, dirs, files in os.walk(data):  # a data folder copied in by root becomes the account's
        for entry in dirs + files:
            os.chown(os.path.join(folder, entry), account.pw_uid, account.pw_gid, follow_symlinks=False)
    yield f"数据目录 {data}：属于 {user}，权限 0700"
    unit_dir.mkdir(parents=True, exist_ok=True)
    path = unit_dir / f"{name}.service"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(unit, encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    yield f"已写入服务文件 {path}"
    systemctl = shutil.which("systemctl")
    if not systemctl or not Path("/run/systemd/system").is_dir():
        yield (f"本机没有运行 systemd，未启用服务。请在 systemd 系统上运行：systemctl daemon-reload && "
               f"systemctl enable --now {name}")
        return
    _run([systemctl, "daemon-reload"])
    _run([systemctl, "enable", "--now", f"{name}.service"])
    yield f"已启用并启动服务 {name}（开机自动启动，异常退出后自动重启）。查看状态：systemctl status {name}"

"""The one-file release: ``./villagegrid`` serves, ``./villagegrid <command>`` runs a command.

With no arguments it serves on 0.0.0.0:8080 (``HOST``/``PORT`` override) with the data folder
``villagegrid-data/`` beside the file (``VG_INSTANCE_PATH`` overrides), made on the first run.
Start-up goes through app/core/release.py: the folder must be writable, one copy per folder,
the port free, the database sound; an older database is backed up and migrated, a newer one
refused. Then the print renderer is warmed up in the background (the first PDF is not the one
to wait) and the address to open is printed.

The release file is a small start-up stub (scripts/dist/stub.c) with PyInstaller's one-folder
build packed behind it: the first start of a build unpacks it into ``runtime/<version>-<hash>/``
in the data folder, every later start runs it from there directly (no unpacking at each start,
as PyInstaller's one-file mode does). Builds no longer used are removed at the start, but the
one used before, to go back to.

A clean stop (Ctrl+C, SIGTERM) leaves ``clean-stop`` naming the program in the data folder;
without it, or after a change of program, the start reads the whole database through first.

Inside the release the fonts come with it: the two print faces already
cut (``fonts/print``) and, for fontconfig, a fallback face with the rest of CJK and DejaVu Sans
Mono (``fonts/fallback``), with a fontconfig configuration of its own written into the data
folder at each start; no font of the system is used.
"""
import gc
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import click
from flask.cli import FlaskGroup

from . import __version__, create_app
from .core import pdf, release, service_install
from .core.files import private_dir
from .core.timeutil import to_local, utcnow
from .extensions import db

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8080
DATA_FOLDER = "villagegrid-data"
FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>{fallback}</dir>
  <cachedir>{cache}</cachedir>
  <alias><family>sans-serif</family><prefer><family>Noto Sans CJK SC</family></prefer></alias>
  <alias><family>serif</family><prefer><family>Noto Sans CJK SC</family></prefer></alias>
  <alias><family>monospace</family><prefer><family>DejaVu Sans Mono</family><family>Noto Sans CJK SC</family></prefer></alias>
  <match target="font">
    <test name="weight" compare="less_eq"><const>medium</const></test>
    <test target="pattern" name="weight" compare="more_eq"><const>bold</const></test>
    <edit name="embolden" mode="assign"><bool>true</bool></edit>
    <edit name="weight" mode="assign"><const>bold</const></edit>
  </match>
</fontconfig>
"""


def frozen():
    """True inside the one-file release."""
    return bool(getattr(sys, "frozen", False))


def bundle_dir():
    """Where the templates, static files, migrations and fonts are (unpacked by the release)."""
    return Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))


def release_file():
    """The file the user copied and runs. Its start-up stub (scripts/dist/stub.c) unpacked the program
    into the data folder and runs it from there, naming itself in ``VG_RELEASE_FILE``."""
    if frozen() and os.environ.get("VG_RELEASE_FILE"):
        return Path(os.environ["VG_RELEASE_FILE"])
    return Path(sys.executable if frozen() else sys.argv[0]).resolve()


def program_id():
    """This build: the name of the folder it was unpacked to (version and a hash), else the version."""
    if frozen() and os.environ.get("VG_RELEASE_FILE"):
        return Path(sys.executable).resolve().parent.name
    return __version__


def data_dir():
    """``$VG_INSTANCE_PATH``, else ``villagegrid-data/`` beside the program file."""
    if os.environ.get("VG_INSTANCE_PATH"):
        return Path(os.environ["VG_INSTANCE_PATH"]).absolute()
    beside = release_file().parent if frozen() else Path.cwd()
    return beside / DATA_FOLDER


def configure_fonts(bundle, data):
    """Point fontconfig and the print font at the fonts shipped in the release (nothing when absent)."""
    fallback = bundle / "fonts" / "fallback"
    if not fallback.is_dir():
        return False
    cache = private_dir(data / "cache" / "fontconfig")
    conf = data / "cache" / "fonts.conf"
    text = FONTS_CONF.format(fallback=fallback, cache=cache)
    if not conf.is_file() or conf.read_text(encoding="utf-8") != text:
        tmp = conf.with_name(f".fonts.conf.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, conf)
    os.environ["FONTCONFIG_FILE"] = str(conf)
    os.environ["VG_PRINT_FONTS"] = str(bundle / "fonts" / "print")
    return True


def _stamp():
    return to_local(utcnow()).strftime("%Y%m%d-%H%M%S")


def _refuse(exc):
    click.echo(f"错误：{exc}", err=True)
    sys.exit(exc.exit_code)


def _prepare():
    """The data folder, made and writable, with the release's fonts configured; sets VG_INSTANCE_PATH."""
    try:
        data = release.prepare_data_folder(data_dir())
    except release.StartRefused as exc:
        _refuse(exc)
    os.environ["VG_INSTANCE_PATH"] = str(data)
    configure_fonts(bundle_dir(), data)
    return data


def _create_app():
    return create_app()


def _schema_current(app, data):
    """Bring the database to this program's schema before a command uses it (backed up first).

    When a server holds the data folder it has done so already and is left alone."""
    try:
        with release.instance_lock(data):
            release.upgrade_database(app, _stamp(), thorough=not release.stopped_cleanly(data, program_id()))
    except release.StartRefused as exc:
        if exc.exit_code != release.LOCKED:
            _refuse(exc)


def public_addresses(host, port):
    """The addresses to open in a browser: the named host, or this machine's addresses for 0.0.0.0."""
    if host not in ("0.0.0.0", "::", ""):
        return [f"http://{'[' + host + ']' if ':' in host else host}:{port}"]
    found = []
    try:  # the address of the interface that reaches other machines (no packet is sent)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            found.append(probe.getsockname()[0])
    except OSError:
        pass
    if "127.0.0.1" not in found:
        found.append("127.0.0.1")
    return [f"http://{ip}:{port}" for ip in found]


def _listening(host, port, timeout=60.0):
    """Wait until ``host:port`` accepts connections (the server is up), at most ``timeout`` seconds."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((target, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def warm_up_printing(app, host=None, port=None):
    """Render a small document in the background so the first real PDF does not wait for WeasyPrint,
    fontconfig and the print stylesheet to load. With ``port``, only once the server listens: the
    start-up itself does not share the interpreter with the warm-up."""
    def run():
        if port is not None:
            _listening(host, port)
        try:
            with app.app_context():
                pdf.html_to_pdf('<html lang="zh"><body><h1>村网格</h1><p>预热 王堃 0123 <b>粗体</b></p></body></html>')
        except Exception as exc:  # a warm-up never stops the server; the first document will say why
            app.logger.warning("打印预热失败：%s", exc)

    thread = threading.Thread(target=run, name="print-warm-up", daemon=True)
    thread.start()
    return thread


@click.command("serve")
@click.option("--host", default=lambda: os.environ.get("HOST", DEFAULT_HOST), show_default=DEFAULT_HOST)
@click.option("--port", default=lambda: int(os.environ.get("PORT", DEFAULT_PORT)), type=int, show_default=DEFAULT_PORT)
def start(host, port):
    """Start the server: check the data folder, back up and migrate the database, serve."""
    from .main import service as setup_service  # late import: start-up time (the areas)

    data = _prepare()
    program = program_id()
    try:
        with release.instance_lock(data):
            release.check_port(host, port)
            app = _create_app()
            thorough = not release.stopped_cleanly(data, program)
            release.mark_running(data)
            before, head, saved = release.upgrade_database(app, _stamp(), thorough)
            if saved:
                click.echo(f"数据库已从版本 {before} 升级到 {head}（升级前的备份：{saved}）")
            if thorough and before:
                click.echo("数据库完整性检查：正常（上次没有正常停止，或换了程序版本）")
            release.prune_runtimes(data, program)
            warm_up_printing(app, host, port)
            with app.app_context():
                set_up = setup_service.is_set_up()
            collect_garbage_again()  # loaded and the models configured (by the query above)
            addresses = public_addresses(host, port)
            click.echo(f"村网格 {__version__}，数据目录：{data}")
            if set_up:
                click.echo("请在浏览器中打开：" + "  或  ".join(addresses))
            else:
                click.echo("首次使用：请在浏览器中打开下面的地址，完成一次性初始化（创建管理员）：")
                for address in addresses:
                    click.echo(f"  {address}/setup")
            serve = app.cli.commands["serve"]
            # SIGTERM (systemctl stop, kill) ends waitress's loop as Ctrl+C does: a clean stop
            previous = signal.signal(signal.SIGTERM, _stop)
            try:
                with app.app_context():
                    click.get_current_context().invoke(serve, host=host, port=port)
                    db.engine.dispose()
            finally:
                signal.signal(signal.SIGTERM, previous)
            release.mark_stopped(data, program)
            click.echo("村网格已停止。")
    except release.StartRefused as exc:
        _refuse(exc)


def _stop(signum, frame):
    raise KeyboardInterrupt


def collect_garbage_again():
    """The release's entry (scripts/dist/entry.py) loads with the garbage collector off: turn it on,
    leaving what was loaded (modules, models, routes: never garbage) out of its passes."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@click.command("version")
def version():
    """Print the program's version and the database schema it expects."""
    head = release.migrations_head(bundle_dir() / "migrations")
    click.echo(f"村网格 VillageGrid {__version__}（数据库版本 {head}，Python {sys.version.split()[0]}）")


UNIT = """[Unit]
Description=村网格 VillageGrid
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
Environment=HOST={host}
Environment=PORT={port}
Environment=VG_INSTANCE_PATH={data}
WorkingDirectory={data}
ExecStart={binary}
Restart=on-failure
RestartSec=5
UMask=0077
NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=full
ProtectHome=true
ReadWritePaths={data}

[Install]
WantedBy=multi-user.target
"""


@click.command("install-service")
@click.option("--user", default="villagegrid", show_default=True, help="运行服务的系统账号（没有时新建）")
@click.option("--data", "data", default="/var/lib/villagegrid", show_default=True, help="数据目录")
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, type=int, show_default=True)
@click.option("--name", default="villagegrid", show_default=True, help="systemd 服务名")
@click.option("--unit-dir", default="/etc/systemd/system", show_default=True, hidden=True)
@click.option("--print", "print_only", is_flag=True, help="只显示将写入的服务文件，不做任何改动")
def install_service(user, data, host, port, name, unit_dir, print_only):
    """Write and enable a systemd service for this program (its own user, data folder 0700, restart on failure)."""
    binary = release_file()
    unit = UNIT.format(user=user, host=host, port=port, data=Path(data).absolute(), binary=binary)
    if print_only:
        click.echo(unit, nl=False)
        return
    try:
        for line in service_install.install(unit, name=name, user=user, data=Path(data).absolute(),
                                            unit_dir=Path(unit_dir)):
            click.echo(line)
    except service_install.InstallError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(1)


NO_APP = {"version", "install-service", "serve", "--help", "-h"}
NO_SCHEMA = {"restore"}  # restore checks and upgrades the file it puts in place itself


def cli():
    """The command group: the release's own commands and the app's (create-admin, import-…, backup, …)."""
    def factory():
        return _create_app()

    group = FlaskGroup(name="villagegrid", create_app=factory, add_default_commands=False,
                       add_version_option=False, load_dotenv=False, set_debug_flag=False,
                       help="村网格 VillageGrid：不带参数运行即启动服务（0.0.0.0:8080）。")
    # the app is fixed: no --app, --env-file or --debug options
    group.params = [p for p in group.params if p.name not in ("app", "env_file", "debug")]
    for command in (start, version, install_service):
        group.add_command(command)
    return group


def main(argv=None):
    """The program's entry point."""
    for stream in (sys.stdout, sys.stderr):  # each line at once, also into a log file or the journal
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["serve"]
    group = cli()
    if argv[0] not in NO_APP:
        data = _prepare()
        if argv[0] not in NO_SCHEMA:
            _schema_current(_create_app(), data)
    if argv[0] != "serve":
        collect_garbage_again()
    group.main(args=argv, prog_name="villagegrid")


if __name__ == "__main__":
    main()

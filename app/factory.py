"""The application factory: configuration, extensions, every area's blueprint, the CLI."""
import os
import secrets
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import ROOT, cli
from . import config as config_module
from .accounts.routes import bp as accounts_bp
from .admin import jobs
from .admin.routes import bp as admin_bp
from .agreements.routes import bp as agreements_bp
from .assessment.party_routes import bp as party_bp
from .assessment.routes import bp as assessment_bp
from .assessment.selfeval_routes import bp as self_eval_bp
from .cases.public_routes import bp as public_cases_bp
from .cases.routes import bp as cases_bp
from .cases.settings_routes import bp as case_settings_bp
from .core import files, inputs, printing, static_files, uploads, warmup, web
from .core import db as core_db
from .core.web import TrustedHosts
from .extensions import compress, csrf, db, login_manager, migrate
from .grids.map_routes import bp as grid_maps_bp
from .grids.routes import bp as grids_bp
from .households.contact_routes import bp as contacts_bp
from .households.excel_routes import bp as ledger_excel_bp
from .households.import_routes import bp as roster_import_bp
from .households.routes import bp as households_bp
from .main.routes import bp as main_bp
from .meetings.routes import bp as meetings_bp
from .notices.routes import bp as notices_bp
from .notifications.routes import bp as notifications_bp
from .patrols.routes import bp as patrols_bp
from .stats import service as stats_service
from .stats.routes import bp as stats_bp
from .units.import_routes import bp as unit_import_bp
from .units.routes import bp as units_bp
from .users.routes import bp as users_bp
from .visits.routes import bp as visits_bp
from .worklogs.routes import bp as worklogs_bp


def _secret_key(instance_path):
    """Read the secret key from instance/, creating it on first run."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(config=None):
    """Build the application. ``config`` (a mapping) overrides everything else."""
    app = Flask(
        __package__,  # "app": the package names the logger and finds its folder
        instance_relative_config=True,
        instance_path=os.environ.get("VG_INSTANCE_PATH") or str(ROOT / "instance"),
        # absolute: in the one-file release app/ is no folder on disk, so "app/../templates" would not resolve
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config_module.Defaults)
    inputs.init_app(app)  # the request class and URL converters, before any route exists
    files.private_dir(app.instance_path)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config_module.from_environ())
    if config:
        app.config.update(config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(app.instance_path) / "villagegrid.db")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    # The database, photos, scans, signatures and backups are for the app's user alone.
    files.private_sqlite(files.sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"]))
    files.tighten_tree(app.instance_path)
    static_files.init_app(app)  # files answered ahead of the app (no session or database), hosts checked first

    app.wsgi_app = TrustedHosts(app, app.wsgi_app)  # inside ProxyFix: it checks the forwarded Host
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)

    core_db.configure_engine(app)

    web.init_app(app)
    compress.init_app(app)  # after web's hooks: runs before them, so the headers web sets stay as they are

    uploads.init_app(app)  # after the login check: images are prepared before any view runs

    for bp in (main_bp, accounts_bp, grids_bp, households_bp, ledger_excel_bp, roster_import_bp, contacts_bp, units_bp,
               visits_bp, worklogs_bp, meetings_bp, agreements_bp, notices_bp, cases_bp, public_cases_bp, case_settings_bp,
               patrols_bp, admin_bp, unit_import_bp, notifications_bp, assessment_bp, users_bp, grid_maps_bp,
               self_eval_bp, party_bp, stats_bp):
        app.register_blueprint(bp)

    cli.init_app(app)
    jobs.init_app(app)
    warmup.register(app, "统计概况", stats_service.warm_up)

    if app.config.get("CHECK_PRINT_STACK"):
        printing.warn_if_print_stack_missing(app.logger, Path(app.instance_path) / "fonts")
    return app

"""Request plumbing shared by every area: rendering, login, headers, errors."""
import time

from flask import (abort, current_app, flash, g, has_request_context, make_response, redirect, render_template, request,
                   url_for)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, generate_csrf
from markupsafe import Markup
from werkzeug.exceptions import SecurityError
from werkzeug.local import LocalProxy
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_host

from ..extensions import db, login_manager
from . import form_stash, idempotency, privacy, static_files
from .errors import ServiceError
from .models import installation
from .pdf import PrintBusy
from .public import NoPublicAddress
from .timeutil import fmt_local

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Endpoints a user who must change the password may still reach.
PASSWORD_CHANGE_ALLOWED = {"accounts.change_password", "accounts.logout", "static", "main.healthz"}
# State changes an auditor (read-only) may still make.
READ_ONLY_ALLOWED = {"accounts.change_password", "accounts.logout", "accounts.login"}


class TrustedHosts:
    """WSGI middleware: a request for a Host not in ``TRUSTED_HOSTS`` gets a plain 400 before the app
    sees it (Flask's own check would leave the app without a URL adapter for its error page)."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        trusted = self.app.config.get("TRUSTED_HOSTS")
        if trusted:
            try:
                get_host(environ, trusted)
            except SecurityError:
                resp = Response("请求有误：所访问的主机名不是本系统的地址。\n", 400, mimetype="text/plain")
                resp.headers["X-Content-Type-Options"] = "nosniff"
                resp.headers["Cache-Control"] = "no-store"
                return resp(environ, start_response)
        return self.wsgi_app(environ, start_response)


def public(view):
    """Mark a view as reachable without logging in (everything else needs a login)."""
    view.is_public = True
    return view


def is_htmx_partial():
    """True for an htmx request that wants a fragment (not a boosted page load)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render(template, fragment=None, status=None, **ctx):
    """Render the full page, or only its fragment for an htmx request.

    ``fragment`` is a template name, or a mapping from HX-Target id to
    template name when one page has several swappable parts. The status is 422 when a
    submitted form is shown again with its errors (a form in ``ctx``, alone or in a dict or
    list), else 200; pass ``status`` only for another answer (401, 404, 409, 429 …).
    """
    name = template
    if fragment and is_htmx_partial():
        if isinstance(fragment, dict):
            name = fragment.get(request.headers.get("HX-Target", ""), template)
        else:
            name = fragment
    if status is None:
        status = 422 if request.method == "POST" and _shows_form_errors(ctx.values()) else 200
    resp = make_response(render_template(name, **ctx), status)
    resp.vary.add("HX-Request")
    return resp


def value_or_back(read, back):
    """``read()``, or when it refuses (ServiceError: a period or date in the query string that cannot
    be read), its message flashed and the request answered with a redirect to ``back()``."""
    try:
        return read()
    except ServiceError as exc:
        flash(str(exc), "error")
        abort(redirect(back()))


def _shows_form_errors(values):
    """Whether any form among the values (or inside a dict or list of them) carries errors."""
    for value in values:
        if isinstance(value, FlaskForm):
            if value.errors:
                return True
        elif isinstance(value, dict) and _shows_form_errors(value.values()):
            return True
        elif isinstance(value, (list, tuple)) and _shows_form_errors(value):
            return True
    return False


def setup_done():
    """Whether the first administrator exists."""
    return installation()[0]


def org_name():
    """This installation's name (县 or 乡镇)."""
    return installation()[1]


def _unauthorized():
    """Send anonymous users to the login page (htmx gets a full redirect)."""
    back = request.full_path.rstrip("?") if request.method == "GET" else None
    if request.method == "POST" and g.get("session_expired_user"):
        back = form_stash.keep(g.session_expired_user)
        if back:
            flash("由于长时间未操作，您已自动退出。请重新登录，刚才填写的内容会还给您（照片需要重新选择）。", "warning")
    elif g.get("session_expired"):
        flash("由于长时间未操作，您已自动退出，请重新登录。", "warning")
    target = url_for("accounts.login", next=back)
    if request.headers.get("HX-Request") == "true":
        resp = make_response("", 401)
        resp.headers["HX-Redirect"] = target
        return resp
    return redirect(target)


def _keepalive():
    """Asked by the page's script while a form has unsaved typing: loading the user touched the session."""
    return "", 200


def _before_request():
    g._started, g._started_cpu = time.perf_counter(), time.thread_time()
    endpoint = request.endpoint or ""
    view = request.url_rule and request.url_rule.endpoint
    if endpoint == "static":
        return None
    if not setup_done() and endpoint not in {"main.setup", "main.healthz"}:
        return redirect(url_for("main.setup"))
    func = current_app.view_functions.get(view) if view else None
    if func is not None and getattr(func, "is_public", False):
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ALLOWED:
        flash("请先修改密码后再继续使用。", "warning")
        return redirect(url_for("accounts.change_password"))
    if current_user.read_only and request.method not in ("GET", "HEAD", "OPTIONS") and endpoint not in READ_ONLY_ALLOWED:
        abort(403)
    return None


def _shows_server_timing():
    """Server time is for the administrator's devtools and the benchmark (``SERVER_TIMING``): to
    anybody else it would tell, for one, how long the password check of a login took."""
    if current_app.config.get("SERVER_TIMING"):
        return True
    user = g.get("_login_user")  # only a user this request already loaded; never load one for this
    return bool(user is not None and user.is_authenticated and getattr(user, "is_admin", False))


def _after_request(resp):
    if "_started" in g and _shows_server_timing():
        resp.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g._started) * 1000:.1f}"
        # The CPU time of the request's thread (SQLite runs in it): the part of the time that
        # other processes on the machine do not lengthen.
        resp.headers.add("Server-Timing", f"cpu;dur={(time.thread_time() - g._started_cpu) * 1000:.1f}")
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    resp.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
    if request.endpoint != "static":
        # Pages may hold resident data: never keep them in a shared PC's cache.
        resp.headers["Cache-Control"] = "no-store"
    return resp


def error_response(code, title, message):
    """The error page (or, for htmx, a toast) with its status; nothing of the request is kept."""
    db.session.rollback()
    if request.headers.get("HX-Request") == "true":
        # htmx 2 does not swap error responses: tell the user through a flash-style fragment.
        resp = make_response(render_template("errors/_toast.html", title=title, message=message), code)
        resp.headers["HX-Retarget"] = "#toasts"
        resp.headers["HX-Reswap"] = "beforeend"
        return resp
    return make_response(render_template("errors/error.html", code=code, title=title, message=message), code)


def _error_page(code, title, message):
    def handler(err):
        return error_response(code, title, message)

    return handler


def _no_public_address(err):
    return _error_page(409, "无法生成二维码", str(err))(err)


def _csrf_error(err):
    return _error_page(400, "页面已过期", "表单安全校验未通过（页面可能停留太久）。请刷新页面后重新提交。")(err)


def template_url_for(endpoint, **values):
    """Templates' ``url_for``. A link without arguments (the menus', a form's action) is the same on
    every request of one mount point (``SCRIPT_NAME``): it is built once per process, not on each of
    the thirty-odd times a page's layout asks for it; so is a static file's address, under the hash
    of the file's current content (a changed file gets a new one). Anything else (arguments, links
    relative to the current blueprint) as Flask builds it."""
    if endpoint.startswith(".") or not has_request_context():
        return url_for(endpoint, **values)
    if endpoint == "static" and len(values) == 1 and "filename" in values:
        key = (endpoint, static_files.hashed_name(values["filename"]), request.script_root)
    elif values:
        return url_for(endpoint, **values)
    else:
        key = (endpoint, request.script_root)
    built = current_app.extensions.setdefault("vg_template_urls", {})
    url = built.get(key)
    if url is None:
        url = built[key] = url_for(endpoint, **values)
    return url


def csrf_field():
    """The hidden CSRF input of a form that has no WTForms form of its own (a button's POST)."""
    return Markup(f'<input name="csrf_token" type="hidden" value="{generate_csrf()}">')


def init_app(app):
    """Bind the hooks, loaders, filters and error pages to the app."""
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.session_protection = "basic"
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.register_error_handler(CSRFError, _csrf_error)

    app.register_error_handler(PrintBusy, _error_page(503, "打印繁忙", "打印繁忙，请稍后再试。"))
    app.register_error_handler(NoPublicAddress, _no_public_address)
    for code, title, message in (
        (400, "请求有误", "提交的内容无法处理，请检查后重试。"),
        (403, "没有权限", "您的账号没有权限进行此操作。如需开通，请联系管理员。"),
        (404, "页面不存在", "您要找的页面不存在，或不在您负责的网格范围内。"),
        (405, "操作方式不正确", "该页面不支持这种操作方式。"),
        (413, "文件太大", "上传的文件超过了允许的大小。"),
        (429, "操作太频繁", "操作太频繁，请稍后再试。"),
        (500, "系统出错", "服务器处理时出错，操作未保存。请稍后重试，如反复出现请联系管理员。"),
    ):
        app.register_error_handler(code, _error_page(code, title, message))

    app.add_url_rule("/session/alive", "keepalive", _keepalive)
    app.jinja_env.filters["localtime"] = fmt_local
    app.jinja_env.globals["fmt_local"] = fmt_local
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.jinja_env.globals["url_for"] = template_url_for
    # An ID number typed into any free text is masked wherever it is shown or printed.
    privacy.init_app(app)
    idempotency.init_app(app)

    @app.context_processor
    def _globals():
        return {
            # Read when a template shows it (the layout), not for every fragment.
            "org_name": LocalProxy(org_name),
            "htmx_js": "js/htmx-2.0.11.min.js",
            "idle_seconds": int(current_app.config["IDLE_TIMEOUT_MINUTES"]) * 60,
        }

"""Pages that show panels of several areas (a grid's page, the public intake) ask this registry.

Each area registers what it adds to a page when its routes module is imported (at start-up),
so the page's own area, lower in the layers, never imports the areas above it. A panel is a
function of the page's subject (a grid …) returning the template variables it adds.
"""
_panels = {}  # page -> {panel name: function}


def panel(page, name):
    """Decorator: ``fn(subject) -> {template variable: value}`` adds to every ``page`` page."""
    def register(fn):
        _panels.setdefault(page, {})[name] = fn
        return fn
    return register


def context(page, subject):
    """The template variables of every panel registered for ``page``, for ``subject``."""
    ctx = {}
    for fn in _panels.get(page, {}).values():
        ctx.update(fn(subject))
    return ctx

"""Cross-cutting helpers: database set-up, htmx rendering, audit, scoping, time."""

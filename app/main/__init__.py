"""Home page, first-run set-up and health check."""

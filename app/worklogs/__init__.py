"""Work logs (工作日志): one per worker per day, weekly checks, amendments, the monthly PDF."""

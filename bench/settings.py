"""Benchmark settings: the local profile plus a bare view to compare the inbox against."""

from config.settings.local import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
LOG_LEVEL = "WARNING"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# The demo's warehouse export (config/settings/local.py) is off here, so the figures stay those of
# the paths measured; ANALYTICS_BENCH_WAREHOUSE_DIR=<dir> measures with it (docs/analytics.md, Cost).
ANALYTICS_WAREHOUSE_DIR = env.str("ANALYTICS_BENCH_WAREHOUSE_DIR", default="")  # noqa: F405

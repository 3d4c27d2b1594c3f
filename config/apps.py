from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConfigConfig(AppConfig):
    """The composition root: the only package that may import every app (demo seeding, urls)."""

    name = "config"
    default = True  # config.apps also holds the admin's AppConfig
    verbose_name = "Project"


class SwitchboardAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the project's site (config/admin_site.py)."""

    default = False

    default_site = "config.admin_site.SwitchboardAdminSite"

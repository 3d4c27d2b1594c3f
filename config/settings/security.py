"""Break-glass local login (password sign-in next to SSO), configured from the environment.

- ``PASSWORD_LOGIN_ROLES``: the roles whose members may sign in with a password (superusers
  count as ``admin``). Default ``admin`` only; the local/demo profile allows every role so the
  demo users can sign in. Everyone else signs in through SSO (``accounts.access.auth``).
- ``PASSWORD_LOGIN_REQUIRES_MFA``: password sign-in goes through allauth's login, which asks
  for a TOTP code (allauth MFA) after the password, and a user without a TOTP authenticator is
  refused. On in production; off elsewhere, where ``/admin/login/`` stays Django's own form.
- Failed password logins: ``PASSWORD_LOGIN_MAX_FAILURES`` failures for one username from one
  IP within ``PASSWORD_LOGIN_LOCKOUT_SECONDS`` lock that username+IP out for the rest of the
  window, even with the right password (``accounts.access.auth``, both login forms). allauth's own
  ``login_failed`` rate limit applies on top on its login view.
"""

from __future__ import annotations

from config.settings.env import env

PASSWORD_LOGIN_ROLES: list[str] = env.list("PASSWORD_LOGIN_ROLES", default=["admin"])
PASSWORD_LOGIN_REQUIRES_MFA: bool = env.bool("PASSWORD_LOGIN_REQUIRES_MFA", default=True)
PASSWORD_LOGIN_MAX_FAILURES: int = env.int("PASSWORD_LOGIN_MAX_FAILURES", default=5)
PASSWORD_LOGIN_LOCKOUT_SECONDS: int = env.int("PASSWORD_LOGIN_LOCKOUT_SECONDS", default=15 * 60)

ALLAUTH_APPS = ["allauth", "allauth.account", "allauth.mfa"]
ACCOUNT_ADAPTER = "accounts.access.adapters.StaffAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_REDIRECT_URL = "/admin/"
ACCOUNT_RATE_LIMITS = {
    "login_failed": (
        f"10/m/ip,{PASSWORD_LOGIN_MAX_FAILURES}/{PASSWORD_LOGIN_LOCKOUT_SECONDS}s/key"
    ),
}
MFA_SUPPORTED_TYPES = ["totp"]
MFA_TOTP_ISSUER = "Switchboard"

"""Staff access: SSO (OIDC, SAML), roles, password break-glass login, re-authentication, API keys
and the audit log."""

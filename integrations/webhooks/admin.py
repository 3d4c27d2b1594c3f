"""Admin screens; imported by integrations/admin.py."""

"""Local stand-ins for providers' HTTP APIs, on 127.0.0.1 only: the Melhor Envio fake serves the
tests and ``run_demo`` (``DEMO_CARRIER=melhor_envio``). They live here, not in ``tests/``, because
the demo is part of the project a deployment ships, and a test package need not be; nothing in
the application imports them."""

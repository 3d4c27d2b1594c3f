"""The local outbound-webhook receiver lives with the fake providers the benchmark also runs."""

from config.fake_providers.webhook_receiver import Receiver, webhook_receiver

__all__ = ["Receiver", "webhook_receiver"]

"""The example provider's adapter: the sandbox's behaviour under another name."""

from payments.providers.sandbox.adapter import SandboxPaymentProvider


class ExamplePaymentProvider(SandboxPaymentProvider):
    name = "example"

"""A second HTTP carrier, added the documented way (one package plus
``SHIPPING_CARRIERS += ["tests.support.example_carrier"]``), for the quote fan-out's tests and
benchmark: it quotes over HTTP through the shared client at ``EXAMPLE_CARRIER_URL``, so it can
be down (a port with nothing listening), slow or refusing like any real carrier."""

from integrations.providers import SHIPPING, ProviderSpec

spec = ProviderSpec(
    family=SHIPPING.name,
    name="example_carrier",
    adapter="tests.support.example_carrier.adapter.ExampleCarrier",
    enabled_by="EXAMPLE_CARRIER_ENABLED",
    description="Test carrier quoting over HTTP (tests and bench only).",
)

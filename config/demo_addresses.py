"""Where the demo's customers live: each one's home, to which all their orders ship."""

from __future__ import annotations

import random

from accounts.models import Customer
from orders.services import ShippingAddress

# Where demo customers live: (street, district, city, state, CEP), real streets and their CEPs.
ADDRESSES = [
    ("Avenida Paulista", "Bela Vista", "São Paulo", "SP", "01310-100"),
    ("Rua Augusta", "Consolação", "São Paulo", "SP", "01305-000"),
    ("Rua Barão de Jaguara", "Centro", "Campinas", "SP", "13015-001"),
    ("Rua São Francisco Xavier", "Maracanã", "Rio de Janeiro", "RJ", "20271-130"),
    ("Avenida Atlântica", "Copacabana", "Rio de Janeiro", "RJ", "22021-001"),
    ("Avenida Afonso Pena", "Centro", "Belo Horizonte", "MG", "30130-001"),
    ("Rua XV de Novembro", "Centro", "Curitiba", "PR", "80020-310"),
    ("Rua dos Andradas", "Centro Histórico", "Porto Alegre", "RS", "90020-007"),
    ("Avenida Sete de Setembro", "Centro", "Salvador", "BA", "40060-001"),
    ("Rua da Aurora", "Boa Vista", "Recife", "PE", "50050-000"),
]


def demo_address(customer: Customer) -> ShippingAddress:
    """The customer's home, where their orders ship: the same one on every run (chosen from the
    e-mail, so the story's own random sequence is untouched)."""
    seed = f"switchboard-demo-address:{customer.email}"
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    street, district, city, state, postal_code = rng.choice(ADDRESSES)
    return ShippingAddress(
        name=customer.name,
        street=street,
        number=str(rng.randint(10, 2_500)),
        complement=rng.choice(["", "", "ap 12", "casa 2", "bloco B, ap 304"]),
        district=district,
        city=city,
        state=state,
        postal_code=postal_code,
    )

"""The default notification rules: the customer messages that were Python functions in
``notifications/rules.py`` (English texts as they were, with pt-BR translations), plus the Pix and
boleto messages of ``payment.checkout_ready``. Texts are Django template strings over the event's
payload.

Written by the data migration ``0012_seed_notification_rules``, and again by ``migrate`` (a
``post_migrate`` receiver) when the table is empty: a database flushed by a test, or one whose
rules were all deleted (deactivate a rule rather than delete it)."""

from __future__ import annotations

from typing import Any

CHANNELS = "whatsapp,sms,email"

# "your order" when the payload has no number (rows written before it carried one).
N_ORDER = '{{ order|default:"your order" }}'
N_NUMBER = '{{ number|default:"your order" }}'
EN_TRACKING = "{% if tracking_code %} Tracking code: {{ tracking_code }}.{% endif %}"
PT_TRACKING = "{% if tracking_code %} Código de rastreio: {{ tracking_code }}.{% endif %}"
# "o pedido SB-1" / "seu pedido", capitalised at the start of a sentence.
PT_O = "{% if order %}o pedido {{ order }}{% else %}seu pedido{% endif %}"
PT_O_CAP = "{% if order %}O pedido {{ order }}{% else %}Seu pedido{% endif %}"
PT_DO = "{% if order %}do pedido {{ order }}{% else %}do seu pedido{% endif %}"
PT_DO_NUMBER = "{% if number %}do pedido {{ number }}{% else %}do seu pedido{% endif %}"
EN_DAY = '|isodate|date:"j F Y"'
PT_DAY = r'|isodate|date:"j \d\e F \d\e Y"|lower'

_EXCEPTIONS_EN = (
    '{% if reason == "delivery_failed" %}' + N_ORDER + ": the carrier could not deliver"
    '{% elif reason == "returned" %}' + N_ORDER + " is being returned to us"
    '{% elif reason == "lost" %}We are looking for '
    + N_ORDER
    + "{% else %}News about "
    + N_ORDER
    + "{% endif %}",
    '{% if reason == "delivery_failed" %}The carrier tried to deliver ' + N_ORDER + " but could "
    "not. We are following it up with them; reply to this message if the address needs a "
    'correction.{% elif reason == "returned" %}The carrier is returning ' + N_ORDER + " to us. "
    "We will contact you to arrange a new delivery or a refund."
    '{% elif reason == "lost" %}The carrier cannot locate ' + N_ORDER + " at the moment. We have "
    "opened an enquiry with them and will contact you with a solution.{% else %}There is a "
    "problem with the delivery of " + N_ORDER + "; we are on it and will contact you."
    "{% endif %}" + EN_TRACKING,
)
_EXCEPTIONS_PT = (
    '{% if reason == "delivery_failed" %}' + PT_O_CAP + ": a transportadora não conseguiu "
    'entregar{% elif reason == "returned" %}' + PT_O_CAP + " está voltando para nós"
    '{% elif reason == "lost" %}Estamos procurando '
    + PT_O
    + "{% else %}Novidades sobre "
    + PT_O
    + "{% endif %}",
    '{% if reason == "delivery_failed" %}A transportadora tentou entregar ' + PT_O + ", mas "
    "não conseguiu. Estamos acompanhando com ela; responda a esta mensagem se o endereço "
    'precisar de correção.{% elif reason == "returned" %}A transportadora está devolvendo '
    + PT_O
    + " para nós. Entraremos em contato para combinar uma nova entrega ou o reembolso."
    '{% elif reason == "lost" %}A transportadora não está localizando ' + PT_O + " no momento. "
    "Abrimos uma investigação com ela e entraremos em contato com uma solução.{% else %}Há um "
    "problema com a entrega " + PT_DO + "; já estamos cuidando disso e entraremos em contato."
    "{% endif %}" + PT_TRACKING,
)

_EN_METHOD = (
    '{% if method == "card" %}card{% elif method == "pix" %}Pix{% elif method == "boleto" %}'
    "boleto{% else %}{{ method }}{% endif %}"
)
_PT_METHOD = (
    '{% if method == "card" %}cartão{% elif method == "pix" %}Pix{% elif method == "boleto" %}'
    "boleto{% else %}{{ method }}{% endif %}"
)
_LINES = (
    "{% for line in lines %}\n{{ line.quantity }} x {{ line.description }}: "
    "{{ line.total_amount|money:currency }}{% endfor %}"
)
# The customer's receipt when a payment succeeds: amount, method and the order's lines (never
# the provider's fee). E-mail only. Seeded by 0014_seed_payment_receipt_rule.
RECEIPT_RULE: dict[str, Any] = {
    "event_type": "payment.succeeded",
    "template": "payment_receipt",
    "channels": "email",
    "subject_en": "Receipt for your payment for " + N_ORDER,
    "body_en": "Thank you! We received your payment of {{ money }} by "
    + _EN_METHOD
    + " for "
    + N_ORDER
    + ".{% if lines %}\n\nItems:"
    + _LINES
    + "{% endif %}\n\nAmount paid: {{ money }}",
    "subject_pt_br": "Recibo do seu pagamento " + PT_DO,
    "body_pt_br": "Obrigado! Recebemos seu pagamento de {{ money }} por "
    + _PT_METHOD
    + " "
    + PT_DO
    + ".{% if lines %}\n\nItens:"
    + _LINES
    + "{% endif %}\n\nValor pago: {{ money }}",
}

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "event_type": "order.paid",
        "template": "order_paid",
        "subject_en": "Payment received for " + N_NUMBER,
        "body_en": "Thank you! We received your payment for " + N_NUMBER + ". We will let you "
        "know as soon as it ships.",
        "subject_pt_br": "Recebemos seu pagamento " + PT_DO_NUMBER,
        "body_pt_br": "Obrigado! Recebemos seu pagamento " + PT_DO_NUMBER + ". Avisaremos assim "
        "que ele for enviado.",
    },
    {
        "event_type": "payment.failed",
        "template": "payment_failed",
        "subject_en": "Your payment for " + N_ORDER + " did not go through",
        "body_en": "We could not take your payment{% if currency %} of {{ money }}{% endif %} "
        "for " + N_ORDER + ".{% if customer_reason %} {{ customer_reason }}{% endif %}"
        "{% if retry_url|https %} You can try again here: {{ retry_url|https }}{% else %} Reply "
        "to this message and we will help you complete it.{% endif %}",
        "subject_pt_br": "Seu pagamento " + PT_DO + " não foi aprovado",
        "body_pt_br": "Não conseguimos concluir seu pagamento{% if currency %} de {{ money }}"
        "{% endif %} " + PT_DO + ".{% if customer_reason %} {{ customer_reason }}{% endif %}"
        "{% if retry_url|https %} Você pode tentar de novo aqui: {{ retry_url|https }}"
        "{% else %} Responda a esta mensagem e ajudaremos você a concluí-lo.{% endif %}",
    },
    {
        "event_type": "payment.expired",
        "template": "payment_expired",
        # A new charge replaces it otherwise: payment.reissued tells the customer.
        "condition": 'order_action == "cancel"',
        "subject_en": N_ORDER + " was cancelled: the Pix code expired",
        "body_en": "We did not receive the Pix payment for " + N_ORDER + " in time, so the code "
        "expired and the order was cancelled. You are welcome to place it again at any time.",
        "subject_pt_br": PT_O_CAP + " foi cancelado: o código Pix expirou",
        "body_pt_br": "Não recebemos a tempo o pagamento Pix " + PT_DO + ", então o código "
        "expirou e o pedido foi cancelado. Você pode fazer o pedido de novo quando quiser.",
    },
    {
        "event_type": "payment.reissued",
        "template": "payment_reissued",
        "urgent": True,
        "subject_en": "A new Pix code for " + N_ORDER,
        "body_en": "The Pix code for " + N_ORDER + " expired before it was paid, so here is a "
        "new one for the payment{% if currency %} of {{ money }}{% endif %}.{% if pix_code %} "
        "Pix copy-and-paste code: {{ pix_code }}{% endif %}{% if retry_url|https %} You can "
        "also pay here: {{ retry_url|https }}{% endif %}{% if not pix_code %}"
        "{% if not retry_url|https %} Reply to this message and we will send it to you."
        "{% endif %}{% endif %}",
        "subject_pt_br": "Um novo código Pix para " + PT_O,
        "body_pt_br": "O código Pix " + PT_DO + " expirou antes do pagamento, então aqui está "
        "um novo para o pagamento{% if currency %} de {{ money }}{% endif %}.{% if pix_code %} "
        "Código Pix copia e cola: {{ pix_code }}{% endif %}{% if retry_url|https %} Você também "
        "pode pagar aqui: {{ retry_url|https }}{% endif %}{% if not pix_code %}"
        "{% if not retry_url|https %} Responda a esta mensagem e enviaremos o código para você."
        "{% endif %}{% endif %}",
    },
    {
        "event_type": "payment.checkout_ready",
        "template": "payment_pix",
        "condition": 'method == "pix" and pix_code',
        "urgent": True,
        "attachment_kind": "image",
        "attachment_source": "{{ pix_qr_image }}",
        "subject_en": "Pay " + N_ORDER + " with Pix",
        "body_en": "To pay " + N_ORDER + "{% if currency %} ({{ money }}){% endif %} with Pix, "
        "scan the QR code or paste the code below in your bank's app."
        "{% if pix_expires_at|isodate %} The code is valid until {{ pix_expires_at"
        + EN_DAY
        + " }}.{% endif %}\n\nPix copy-and-paste code: {{ pix_code }}"
        "{% if pay_url|https %}\n\nYou can also pay here: {{ pay_url|https }}{% endif %}",
        "subject_pt_br": "Pague " + PT_O + " com Pix",
        "body_pt_br": "Para pagar " + PT_O + "{% if currency %} ({{ money }}){% endif %} com "
        "Pix, leia o QR code ou cole o código abaixo no app do seu banco."
        "{% if pix_expires_at|isodate %} O código vale até {{ pix_expires_at"
        + PT_DAY
        + " }}.{% endif %}\n\nCódigo Pix copia e cola: {{ pix_code }}"
        "{% if pay_url|https %}\n\nVocê também pode pagar aqui: {{ pay_url|https }}{% endif %}",
    },
    {
        "event_type": "payment.checkout_ready",
        "template": "payment_boleto",
        "condition": 'method == "boleto" and boleto_url|https',
        "attachment_kind": "document",
        "attachment_source": "{{ boleto_url|https }}",
        "attachment_filename": 'boleto-{{ order|default:"pedido" }}.pdf',
        "subject_en": "Your boleto for " + N_ORDER,
        "body_en": "Here is the boleto for " + N_ORDER + "{% if currency %} ({{ money }})"
        "{% endif %}{% if due_date|isodate %}, due on {{ due_date" + EN_DAY + " }}{% endif %}. "
        "Pay it in your bank's app or at any bank: {{ boleto_url|https }}",
        "subject_pt_br": "Seu boleto " + PT_DO,
        "body_pt_br": "Aqui está o boleto " + PT_DO + "{% if currency %} ({{ money }})"
        "{% endif %}{% if due_date|isodate %}, com vencimento em {{ due_date"
        + PT_DAY
        + " }}{% endif %}. Pague no app do seu banco ou em qualquer agência: "
        "{{ boleto_url|https }}",
    },
    {
        "event_type": "shipment.posted",
        "template": "shipment_posted",
        "subject_en": N_ORDER + " is on its way",
        "body_en": "Good news: " + N_ORDER + " has been handed to the carrier." + EN_TRACKING,
        "subject_pt_br": PT_O_CAP + " está a caminho",
        "body_pt_br": "Boa notícia: "
        + PT_O
        + " foi postado e já está com a transportadora."
        + PT_TRACKING,
    },
    {
        "event_type": "shipment.in_transit",
        "template": "shipment_in_transit",
        "subject_en": N_ORDER + " is in transit",
        "body_en": N_ORDER + " is travelling to you{% if location %} (last seen in "
        "{{ location }}){% endif %}." + EN_TRACKING,
        "subject_pt_br": PT_O_CAP + " está em trânsito",
        "body_pt_br": PT_O_CAP + " está a caminho de você{% if location %} (visto por último em "
        "{{ location }}){% endif %}." + PT_TRACKING,
    },
    {
        "event_type": "shipment.out_for_delivery",
        "template": "shipment_out_for_delivery",
        "subject_en": N_ORDER + " arrives today",
        "body_en": N_ORDER + " is out for delivery and should reach you today." + EN_TRACKING,
        "subject_pt_br": PT_O_CAP + " chega hoje",
        "body_pt_br": PT_O_CAP + " saiu para entrega e deve chegar hoje." + PT_TRACKING,
    },
    {
        "event_type": "shipment.delivered",
        "template": "shipment_delivered",
        "subject_en": N_ORDER + " was delivered",
        "body_en": N_ORDER + " was delivered. We hope you enjoy it!",
        "subject_pt_br": PT_O_CAP + " foi entregue",
        "body_pt_br": PT_O_CAP + " foi entregue. Esperamos que você goste!",
    },
    {
        "event_type": "shipment.delayed",
        "template": "shipment_delayed",
        # The first delay of a shipment only (the alert says so).
        "condition": "notify_customer",
        "subject_en": N_ORDER + " is taking longer than expected",
        "body_en": "We are sorry: " + N_ORDER + " is taking longer than expected to reach you"
        "{% if promised_delivery_on|isodate %} (it was due by {{ promised_delivery_on"
        + EN_DAY
        + " }}){% endif %}. We are checking with the carrier and will let you know as soon as "
        "it moves." + EN_TRACKING,
        "subject_pt_br": PT_O_CAP + " está demorando mais do que o previsto",
        "body_pt_br": "Pedimos desculpas: " + PT_O + " está demorando mais do que o previsto "
        "para chegar{% if promised_delivery_on|isodate %} (a previsão era "
        "{{ promised_delivery_on" + PT_DAY + " }}){% endif %}. Estamos verificando com a "
        "transportadora e avisaremos assim que ele voltar a andar." + PT_TRACKING,
    },
    {
        "event_type": "shipment.exception",
        "template": "shipment_exception",
        "condition": "notify_customer",
        "subject_en": _EXCEPTIONS_EN[0],
        "body_en": _EXCEPTIONS_EN[1],
        "subject_pt_br": _EXCEPTIONS_PT[0],
        "body_pt_br": _EXCEPTIONS_PT[1],
    },
    {
        "event_type": "refund.succeeded",
        "template": "refund_succeeded",
        "subject_en": "Your refund is on its way",
        "body_en": "We have processed {% if currency %}a refund of {{ money }}{% else %}your "
        "refund{% endif %}{% if order %} for {{ order }}{% endif %}. It may take a few business "
        "days to show on your statement.",
        "subject_pt_br": "Seu reembolso está a caminho",
        "body_pt_br": "Processamos {% if currency %}um reembolso de {{ money }}{% else %}seu "
        "reembolso{% endif %}{% if order %} do pedido {{ order }}{% endif %}. Pode levar alguns "
        "dias úteis para aparecer no seu extrato.",
    },
]


DEFAULT_RULES.append(RECEIPT_RULE)


def seed_default_rules(model: Any) -> int:
    """Create the default rules missing by template key (``model``: NotificationRule, or its
    historical version in a migration); returns how many were created."""
    created = 0
    for rule in DEFAULT_RULES:
        fields = {"channels": CHANNELS, "fallback_minutes": 30, **rule}
        template = fields.pop("template")
        created += model.objects.get_or_create(template=template, defaults=fields)[1]
    return created


def seed_default_rules_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` receiver: the default rules when the table is there and empty."""
    from django.db import connections

    from notifications.models import NotificationRule

    tables = connections[using].introspection.table_names()
    if (
        NotificationRule._meta.db_table in tables
        and not NotificationRule.objects.using(using).exists()
    ):
        seed_default_rules(NotificationRule)

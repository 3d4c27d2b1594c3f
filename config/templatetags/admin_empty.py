"""``{% admin_empty_state cl %}``: what an empty changelist says (see ``config.admin_empty``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.admin.options import IS_FACETS_VAR, IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR

from config.admin_empty import empty_message

register = template.Library()

# Parameters that keep the view the same kind of list: not a search or a filter.
KEPT_PARAMS = frozenset({IS_POPUP_VAR, TO_FIELD_VAR, IS_FACETS_VAR, ORDER_VAR})


@register.inclusion_tag("admin/includes/empty_state.html")
def admin_empty_state(cl: Any) -> dict[str, Any]:
    """Nothing matches the search or filters (with a link that clears them), or the model has
    no rows yet (and what would appear, and why it is empty)."""
    narrowing = [name for name in cl.params if name not in KEPT_PARAMS]
    return {
        "query": cl.query,
        "narrowed": bool(narrowing),
        "searched": bool(cl.query) and SEARCH_VAR in cl.params,
        "clear_url": cl.get_query_string(remove=narrowing),
        "message": empty_message(cl.model_admin),
        "name": cl.opts.verbose_name_plural,
    }

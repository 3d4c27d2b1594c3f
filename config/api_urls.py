"""/api/v1/: every app's endpoints, in one place."""

from django.urls import path

from accounts.customers.api import CustomerContext
from orders.api import OrderDetail, OrderListCreate
from shipping.api import QuoteChoose, QuoteCreate
from usage.api import UsageEventBatchCreate

urlpatterns = [
    path("orders/", OrderListCreate.as_view(), name="api-orders"),
    path("orders/<str:number>/", OrderDetail.as_view(), name="api-order-detail"),
    path("customers/<int:pk>/context/", CustomerContext.as_view(), name="api-customer-context"),
    path("usage/", UsageEventBatchCreate.as_view(), name="api-usage"),
    path("shipping/quotes/", QuoteCreate.as_view(), name="api-shipping-quotes"),
    path(
        "shipping/quotes/<int:pk>/choose/",
        QuoteChoose.as_view(),
        name="api-shipping-quote-choose",
    ),
]

"""/api/v1/: every app's endpoints, in one place."""

from django.urls import path

from orders.api import OrderDetail, OrderListCreate, UsageEventCreate

urlpatterns = [
    path("orders/", OrderListCreate.as_view(), name="api-orders"),
    path("orders/<str:number>/", OrderDetail.as_view(), name="api-order-detail"),
    path("usage/", UsageEventCreate.as_view(), name="api-usage"),
]

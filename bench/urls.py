from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The floor: a Django view through the same middleware that reads the body and answers."""
    return JsonResponse({"status": "ok", "size": len(request.body)})


urlpatterns = [path("bench/bare/", bare), *project_urlpatterns]

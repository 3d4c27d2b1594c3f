from datetime import timedelta

from django.db import OperationalError, connection
from django.utils import timezone

from config import __version__
from integrations import tasks
from integrations.models import CircuitBreaker, TaskHeartbeat
from integrations.schedules import MAIN, SWEEPERS


def _both_clusters_beat() -> None:
    """What each cluster's scheduled heartbeat task does every minute."""
    tasks.heartbeat(role=MAIN)
    tasks.heartbeat(role=SWEEPERS)


def test_health_reports_database_cluster_and_version(client, db):
    _both_clusters_beat()
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["task_cluster"]["ok"] is True
    assert body["task_cluster"]["age_seconds"] < 5
    assert body["sweeper_cluster"]["ok"] is True
    assert body["version"] == __version__


def test_a_silent_sweeper_cluster_degrades_health(client, db):
    """The sweepers recover lost work; without their cluster /health/ says so."""
    tasks.heartbeat(role=MAIN)
    body = client.get("/health/").json()
    assert body["task_cluster"]["ok"] is True
    assert body["sweeper_cluster"] == {"ok": False, "last_heartbeat": None, "age_seconds": None}
    assert body["status"] == "degraded"


def test_stale_or_missing_heartbeat_degrades_but_stays_200(client, db):
    body = client.get("/health/").json()
    assert body["status"] == "degraded"
    assert body["task_cluster"]["last_heartbeat"] is None
    TaskHeartbeat.objects.create(cluster="switchboard", beat_at=timezone.now() - timedelta(hours=1))
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["task_cluster"]["ok"] is False


def test_database_down_answers_503(client, db):
    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refuse):
        response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"] == {
        "ok": False,
        "vendor": connection.vendor,
        "error": "OperationalError",
    }


def test_health_only_answers_get(client, db):
    assert client.post("/health/").status_code == 405


def test_health_reports_breakers_and_an_open_one_degrades(client, db):
    _both_clusters_beat()
    CircuitBreaker.objects.create(provider="acme")
    body = client.get("/health/").json()
    assert body["status"] == "ok"
    assert body["circuit_breakers"] == {"acme": "closed"}

    CircuitBreaker.objects.create(provider="mailer", state="open", opened_at=timezone.now())
    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["circuit_breakers"] == {"acme": "closed", "mailer": "open"}
    assert body["task_cluster"]["ok"] is True


def test_health_query_count_does_not_grow_with_providers(client, db, django_assert_num_queries):
    for n in range(5):
        CircuitBreaker.objects.create(provider=f"p{n}", state="half_open")
    with django_assert_num_queries(3):
        body = client.get("/health/").json()
    assert body["status"] == "degraded"
    assert set(body["circuit_breakers"].values()) == {"half_open"}

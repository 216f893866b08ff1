"""/healthz: each part's state, 200 only when all are up, the failing part named, no secrets."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from reimaging.models import Heartbeat

pytestmark = pytest.mark.django_db


def test_health_names_every_failing_part(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["database"]["ok"] is True
    assert set(body["failing"]) == {"redis", "worker", "hapi"}
    assert body["checks"]["redis"]["error"] == "Redis is unreachable"
    assert "never reported" in body["checks"]["worker"]["error"]


def test_health_all_up_answers_200(redis_url, account, settings) -> None:
    settings.REDIS_URL = redis_url
    Heartbeat.objects.create(name="worker", at=timezone.now())
    response = Client().get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"


def test_health_stale_heartbeat_and_bad_credentials_are_named(redis_url, account, settings) -> None:
    settings.REDIS_URL = redis_url
    Heartbeat.objects.create(name="worker", at=timezone.now() - timezone.timedelta(minutes=10))
    account.api_secret = "wrong-secret"
    account.save()
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["worker", "hapi"]
    assert "check the account's key and secret" in body["checks"]["hapi"]["accounts"][account.name]
    text = json.dumps(body)
    assert "wrong-secret" not in text and "staff-key" not in text


def test_health_api_down_is_reported(redis_url, account, sim, settings) -> None:
    settings.REDIS_URL = redis_url
    Heartbeat.objects.create(name="worker", at=timezone.now())
    sim.add_fault(kind="http", status=503, count=5)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["hapi"]

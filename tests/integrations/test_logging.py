import json


def _lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_request_log_lines_are_json_with_the_request_id(client, db, json_log):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-abc-12345")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-abc-12345"
    lines = [line for line in _lines(json_log) if line.get("logger") == "django.request"]
    assert lines, json_log.getvalue()
    assert lines[0]["request_id"] == "req-abc-12345"
    assert lines[0]["level"] == "warning"
    assert "timestamp" in lines[0]


def test_request_id_is_generated_when_missing_or_malformed(client, db, json_log):
    first = client.get("/no-such-page/")
    second = client.get("/no-such-page/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    ids = {first["X-Request-ID"], second["X-Request-ID"]}
    assert len(ids) == 2
    assert all(len(i) == 32 for i in ids)
    logged = {line["request_id"] for line in _lines(json_log) if "request_id" in line}
    assert ids <= logged


def test_structlog_loggers_render_json_too(json_log):
    import structlog

    structlog.contextvars.bind_contextvars(request_id="r-structlog-1")
    try:
        structlog.get_logger("switchboard.test").info("refund.approved", refund_id=7)
    finally:
        structlog.contextvars.clear_contextvars()
    line = _lines(json_log)[-1]
    assert line["event"] == "refund.approved"
    assert line["refund_id"] == 7
    assert line["request_id"] == "r-structlog-1"

"""The heartbeat the bot writes and `quantutor health` reads (the container's health check)."""

import time

from cli.main import main
from tutor.health import STALE_AFTER_S, check_health, heartbeat_path, write_heartbeat


def test_a_fresh_heartbeat_from_a_connected_bot_is_healthy(tmp_path):
    write_heartbeat(tmp_path, ready=True, pending=2)
    healthy, why = check_health(tmp_path)
    assert healthy and "2 drafts waiting" in why


def test_a_stale_missing_or_disconnected_heartbeat_is_unhealthy(tmp_path):
    assert "no heartbeat yet" in check_health(tmp_path)[1]
    write_heartbeat(tmp_path, ready=False)
    assert check_health(tmp_path) == (False, "running, but not connected to Discord")
    write_heartbeat(tmp_path, ready=True)
    healthy, why = check_health(tmp_path, now=time.time() + STALE_AFTER_S + 5)
    assert not healthy and "stuck or stopped" in why
    heartbeat_path(tmp_path).write_text("{not json")
    assert "unreadable heartbeat" in check_health(tmp_path)[1]


def test_the_health_command_exits_0_only_when_healthy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUANTUTOR_DATA_DIR", str(tmp_path))
    assert main(["health"]) == 1
    write_heartbeat(tmp_path, ready=True, pending=0)
    assert main(["health"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("healthy: connected")

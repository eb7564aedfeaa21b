"""The bot's heartbeat, for container health checks: the event loop writes it every
HEARTBEAT_S seconds; `quantutor health` reads it.

A fresh heartbeat proves more than an open port would: the event loop is turning and
the bot is connected to Discord.
"""

import json
import time
from pathlib import Path

HEARTBEAT_S = 30
STALE_AFTER_S = 3 * HEARTBEAT_S


def heartbeat_path(data_dir: Path) -> Path:
    return data_dir / "heartbeat.json"


def write_heartbeat(data_dir: Path, **state) -> None:
    path = heartbeat_path(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"at": time.time(), **state}))
    tmp.replace(path)  # a reader never sees half a file


def check_health(data_dir: Path, now: float | None = None) -> tuple[bool, str]:
    """(healthy, why): the heartbeat is fresh and the bot is connected."""
    try:
        beat = json.loads(heartbeat_path(data_dir).read_text())
    except FileNotFoundError:
        return False, "no heartbeat yet: is the bot running (quantutor run with a token)?"
    except (OSError, ValueError) as error:
        return False, f"unreadable heartbeat ({error})"
    age = (now or time.time()) - beat.get("at", 0)
    if age > STALE_AFTER_S:
        return False, f"the last heartbeat is {age:.0f} s old: the bot is stuck or stopped"
    if not beat.get("ready"):
        return False, "running, but not connected to Discord"
    return True, f"connected, {beat.get('pending', 0)} drafts waiting, heartbeat {age:.0f} s ago"

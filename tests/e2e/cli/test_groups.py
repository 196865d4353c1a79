"""``brook groups`` (kafka-consumer-groups.sh) against a live broker: lag that matches what a
group consumed, offsets reset, deletion."""

from __future__ import annotations

import re


def _setup(brook, bootstrap, topic, lines: int) -> None:
    res = brook("topics", "--create", "--bootstrap-server", bootstrap, "--topic", topic,
                "--partitions", "1", "--replication-factor", "1")
    assert res.returncode == 0, res.stderr
    res = brook("produce", "--bootstrap-server", bootstrap, "--topic", topic,
                input="".join(f"line-{i}\n" for i in range(lines)))
    assert res.returncode == 0, res.stderr


def _rows(out: str, group: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.startswith(group + " ")]


def test_describe_lag_reset_and_delete(brook, bootstrap, topic):
    group = f"{topic}-g"
    _setup(brook, bootstrap, topic, 10)
    consumed = brook("consume", "--bootstrap-server", bootstrap, "--topic", topic, "--group",
                     group, "--from-beginning", "--max-messages", "6", timeout=90)
    assert consumed.returncode == 0, consumed.stderr
    listed = brook("groups", "--list", "--bootstrap-server", bootstrap)
    assert listed.returncode == 0, listed.stderr
    assert group in listed.stdout.split()

    described = brook("groups", "--describe", "--group", group, "--bootstrap-server", bootstrap)
    assert described.returncode == 0, described.stderr
    assert re.search(r"GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG",
                     described.stdout)
    rows = _rows(described.stdout, group)
    assert len(rows) == 1
    current = sum(int(r[3]) for r in rows)
    end = sum(int(r[4]) for r in rows)
    lag = sum(int(r[5]) for r in rows)
    assert end == 10 and current >= 6 and lag == end - current

    dry = brook("groups", "--reset-offsets", "--group", group, "--topic", topic,
                "--to-earliest", "--bootstrap-server", bootstrap)
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout
    applied = brook("groups", "--reset-offsets", "--group", group, "--topic", topic,
                    "--to-earliest", "--execute", "--bootstrap-server", bootstrap)
    assert applied.returncode == 0, applied.stderr
    after = _rows(brook("groups", "--describe", "--group", group, "--bootstrap-server",
                        bootstrap).stdout, group)
    assert [int(r[3]) for r in after] == [0]
    assert sum(int(r[5]) for r in after) == 10

    shifted = brook("groups", "--reset-offsets", "--group", group, "--topic", f"{topic}:0",
                    "--shift-by", "3", "--execute", "--bootstrap-server", bootstrap)
    assert shifted.returncode == 0, shifted.stderr

    state = brook("groups", "--describe", "--group", group, "--state", "--bootstrap-server",
                  bootstrap)
    assert state.returncode == 0 and "Empty" in state.stdout, state.stdout + state.stderr

    deleted = brook("groups", "--delete", "--group", group, "--bootstrap-server", bootstrap)
    assert deleted.returncode == 0, deleted.stderr
    assert "was successful" in deleted.stdout
    missing = brook("groups", "--describe", "--group", group, "--bootstrap-server", bootstrap)
    assert group not in brook("groups", "--list", "--bootstrap-server", bootstrap).stdout.split()
    assert missing.returncode != 0 or "Dead" in missing.stdout or "no active" in missing.stdout


def test_groups_needs_an_action_and_a_group(brook, bootstrap):
    res = brook("groups", "--bootstrap-server", bootstrap)
    assert res.returncode == 2 and "exactly one of" in res.stderr
    res = brook("groups", "--describe", "--bootstrap-server", bootstrap)
    assert res.returncode == 2 and "--group" in res.stderr

"""The demo shows commands a person can paste into a POSIX shell."""

from __future__ import annotations

import subprocess

import pytest

from ddblake.demo import shell_quote


@pytest.mark.parametrize("arg", [
    "SELECT _old->>'$.name.S' FROM diff('a', 'b')", "it's $HOME", "plain", "a b", "$(date)'",
    "x'${y}'", 'say "hi"', "back`tick`'",
])
def test_quoted_args_reach_the_program_unchanged(arg: str) -> None:
    env = {"HOME": "/nowhere", "PATH": "/usr/bin:/bin"}
    echoed = subprocess.run(["sh", "-c", f"printf %s {shell_quote(arg)}"], capture_output=True,
                            text=True, check=True, env=env)
    assert echoed.stdout == arg

"""The CLI's conventions: version, help, unknown commands."""
from conftest import run_pinion


def test_version_flag_prints_version_and_cog_level():
    result = run_pinion("--version")
    assert result.returncode == 0
    version = open(__import__("conftest").ROOT + "/VERSION").read().strip()
    assert result.stdout == f"pinion {version} (cog 0.22.0)\n"


def test_help_lists_commands_and_exits_zero():
    result = run_pinion("--help")
    assert result.returncode == 0
    assert "Usage: pinion COMMAND" in result.stdout
    assert "  help " in result.stdout


def test_no_arguments_prints_usage_and_exits_two():
    result = run_pinion()
    assert result.returncode == 2
    assert "Usage: pinion COMMAND" in result.stdout


def test_unknown_command_says_what_to_do():
    result = run_pinion("frobnicate")
    assert result.returncode == 2
    assert result.stderr == (
        "pinion: unknown command \"frobnicate\". Run 'pinion help' for the list.\n"
    )


def test_help_for_a_command():
    result = run_pinion("help", "version")
    assert result.returncode == 0
    assert result.stdout == "Usage: pinion version\n"
    result = run_pinion("help", "nope")
    assert result.returncode == 2

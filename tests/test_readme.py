"""Every README example runs as pasted and prints what the README shows.

An example is a ```python block followed directly by a ```text block: its exact output.
Each example runs in a namespace of its own, so that it can be pasted on its own.
"""
import contextlib
import importlib.util
import io
import pathlib
import re
import shlex

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = re.compile(r"```python\n(.*?)```\s*```text\n(.*?)```", re.S)


def examples():
    found = []
    for section in re.split(r"\n## ", README.read_text()):
        title = section.splitlines()[0][:40]
        for k, match in enumerate(EXAMPLE.finditer(section)):
            found.append(pytest.param(title, k, id=f"{title}-{k}"))
    return found


def _run_section(title: str, upto: int) -> tuple:
    section = next(s for s in re.split(r"\n## ", README.read_text()) if s.splitlines()[0][:40] == title)
    match = list(EXAMPLE.finditer(section))[upto]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(match.group(1), f"README[{title}#{upto}]", "exec"), {})
    return buffer.getvalue(), match.group(2)


@pytest.mark.parametrize("title,index", examples())
def test_readme_example_prints_what_it_shows(title, index):
    section = next(s for s in re.split(r"\n## ", README.read_text()) if s.splitlines()[0][:40] == title)
    code = list(EXAMPLE.finditer(section))[index].group(1)
    for name in re.findall(r"^(?:import|from) (\w+)", code, re.M):  # an optional extra (torch) may be absent
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"the example needs {name}, which is not installed")
    output, expected = _run_section(title, index)
    assert output.strip() == expected.strip()


CONSOLE = re.compile(r"```console\n(.*?)```", re.S)


def console_sessions():
    """(command, expected output) pairs from ```console blocks: lines after '$ ' are commands."""
    pairs = []
    for block in CONSOLE.findall(README.read_text()):
        for chunk in block.split("$ ")[1:]:
            command, _, output = chunk.partition("\n")
            pairs.append(pytest.param(command, output, id=command[:60]))
    return pairs


@pytest.mark.parametrize("command,expected", console_sessions())
def test_readme_command_prints_what_it_shows(command, expected, capsys):
    from intrinsic_flow.cli import main

    argv = shlex.split(command)
    assert argv[0] == "intrinsic-flow"
    code = main(argv[1:])
    captured = capsys.readouterr()
    assert (captured.out + captured.err).strip() == expected.strip()
    assert code == (0 if not captured.err else 2)


def test_readme_starts_with_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert len(first_block) == 2
    assert first_block[0].startswith("pip install ") and " && intrinsic-flow report" in first_block[0]
    assert first_block[1] == 'pip install ".[test]" && python -m pytest'

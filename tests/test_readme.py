"""The README's example script runs as written (with fewer epochs) and learns."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_learns(capsys):
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    assert "@torch.compile" in code and "import torchish as torch" in code
    exec(compile(code.replace("range(20)", "range(3)"), str(README), "exec"), {"__name__": "readme"})
    losses = [float(line.split()[1]) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(losses) == 3 and losses[-1] < losses[0]

"""The README's first Python example runs as written (x-transformers' test_readme idea)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quick_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    example = next(b for b in blocks if "TobigsConfig.from_preset" in b)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert type(namespace["model"]).__name__ == "TobigsForConditionalGeneration"
    assert namespace["out"].shape[0] == 1 and (tmp_path / "my-transformer" / "model.safetensors").is_file()

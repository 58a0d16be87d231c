"""What a fresh process pays before its first node, kept out of the way where it can be.

The start-up itself is measured by ``benchmarks/startup.py``; these tests check that the
shortcuts change no behaviour.
"""

from __future__ import annotations

import subprocess
import sys

IRI_CHECK = """
import sys
from pathlib import Path
from workbench import environment
environment.prepare(Path(sys.argv[1]))
import jsonschema
loaded_at_import = "rfc3987_syntax.syntax_helpers" in sys.modules
checker = jsonschema.Draft7Validator({"type": "string", "format": "iri"},
                                     format_checker=jsonschema.FormatChecker())
print(loaded_at_import, checker.is_valid("https://example.org/caf\\u00e9"),
      checker.is_valid("no scheme here"), "rfc3987_syntax.syntax_helpers" in sys.modules)
"""


def test_jsonschemas_iri_grammar_is_compiled_on_first_use_not_at_import(tmp_path):
    # Prefect and dbt import jsonschema, which imported rfc3987_syntax and compiled its
    # Lark grammar (1.4-2.2 s) in every fresh process; IRIs still validate as before.
    said = subprocess.run([sys.executable, "-c", IRI_CHECK, str(tmp_path)],
                          capture_output=True, text=True, timeout=300)

    assert said.returncode == 0, said.stderr
    assert said.stdout.split() == ["False", "True", "False", "True"]


PARSE = """
import sys
from pathlib import Path
from workbench.config import load_config
from workbench.transform import DbtProject
config = load_config(Path(sys.argv[1]))
DbtProject(config.dbt_project, config.warehouse, state_dir=config.state_dir).manifest()
"""


def parsed_files(project) -> int:
    """How many files dbt's last parse of ``project`` read anew (dbt's perf_info.json)."""
    import json

    said = subprocess.run([sys.executable, "-c", PARSE, str(project)], capture_output=True,
                          text=True, timeout=600)
    assert said.returncode == 0, said.stderr
    info = json.loads((project / "dbt" / "target" / "perf_info.json").read_text())
    assert info["is_partial_parse_enabled"]
    return info["parsed_path_count"]


def test_a_fresh_process_reuses_dbts_partial_parse_until_a_file_changes(project):
    # Each fresh process parses the dbt project; dbt's target/partial_parse.msgpack lets it
    # read again only what changed since the last parse, whichever process made it.
    assert parsed_files(project) > 10                   # the first parse reads everything
    assert parsed_files(project) == 0                   # nothing changed: nothing read

    model = next((project / "dbt" / "models").rglob("*.sql"))
    model.write_text(model.read_text() + "\n-- edited\n")

    assert 1 <= parsed_files(project) <= 3              # the model (and its schema file)

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

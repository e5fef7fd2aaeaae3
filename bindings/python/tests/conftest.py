import json
import os
from pathlib import Path

import pytest

import mii

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "Tests" / "Fixtures"
TINY = FIXTURES / "tiny" / "tiny-llama.gguf"
HOSTILE = FIXTURES / "hostile_gguf"
HEADER = REPO / "include" / "mii.h"


@pytest.fixture(scope="session")
def reference():
    with open(FIXTURES / "smollm2" / "reference.json", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def pipe():
    """The default model (SmolLM2-135M-Instruct Q4_1), precise mode."""
    p = mii.pipeline(n_ctx=1024)
    yield p
    p.close()


@pytest.fixture(scope="session")
def tiny():
    p = mii.pipeline(str(TINY), n_ctx=256)
    yield p
    p.close()


def pytest_report_header(config):
    return [f"mii {mii.__version__} from {Path(mii.__file__).parent}, libmii {mii.library_version()} "
            f"(ABI {mii.abi_version()}) at {mii.library_path}"]

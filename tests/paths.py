"""Where the tests find the repository and the demo corpus, wherever a test file sits."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OZ_DIR = REPO_ROOT / ".." / "shared" / "corpus" / "oz"

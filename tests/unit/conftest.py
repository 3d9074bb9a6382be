import sys
from pathlib import Path

# `builders` is a plain helper module beside the unit tests.
sys.path.insert(0, str(Path(__file__).parent))

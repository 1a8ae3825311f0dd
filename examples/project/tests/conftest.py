import sys
from pathlib import Path

# app.py lives in the project's root, as in the function's package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

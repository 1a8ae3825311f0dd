"""`python -m runtime HANDLER`: the runtime in this interpreter, as `python -m awslambdaric HANDLER` is awslambdaric's.

Lambda runs `bootstrap`, which execs the interpreter with `-c` (runpy's ~5 ms are left out of the cold start); the
local emulator is `python -m emulator`.
"""

from .main import main

main()

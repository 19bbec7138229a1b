// Module ModelIO: see docs/ARCHITECTURE.md
import Support

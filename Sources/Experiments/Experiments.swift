// Module Experiments: see docs/ARCHITECTURE.md
import Support

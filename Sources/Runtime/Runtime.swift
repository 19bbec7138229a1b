// Module Runtime: see docs/ARCHITECTURE.md
import Support

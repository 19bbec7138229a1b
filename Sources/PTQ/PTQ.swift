// Module PTQ: see docs/ARCHITECTURE.md
import Support

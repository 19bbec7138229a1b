// Module MXKernels: see docs/ARCHITECTURE.md
import Support

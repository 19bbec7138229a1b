// Module MXFormats: see docs/ARCHITECTURE.md
import Support

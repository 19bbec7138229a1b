// Module Tokenization: see docs/ARCHITECTURE.md
import Support

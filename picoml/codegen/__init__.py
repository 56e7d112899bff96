"""C code generation: IR graph + memory plan -> a self-contained C99 project."""
from picoml.codegen.emitter import CProject, generate

__all__ = ["CProject", "generate"]

"""C emitters, one module per kernel family (each registers with ``picoml.codegen.registry.c_op``)."""

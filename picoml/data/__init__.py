"""Built-in datasets (nothing downloaded at run time), one module each, e.g. :mod:`picoml.data.digits`."""
